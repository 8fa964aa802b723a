/**
 * The classic Dockerfile on a real Debian base, with the network inside the sandbox (apt-get
 * reaches the machine's Debian mirror): nginx lands in the image, never on this machine; a
 * rebuild is all cached; an edit of site/ reruns only the COPY. As root and as an ordinary
 * user (subordinate uids through newuidmap, which apt and dpkg need).
 */
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { suite, Rig } from '../util/rig.js';
import { runCli, stepsDone, type CliResult } from '../util/cli.js';
import { debianBase } from '../util/base-images.js';
import { tool } from '../util/oci-kit.js';
import { chownTree, runCliAs, testUser } from '../util/unprivileged.js';

const t = suite('sandbox: Debian base with apt-get', { timeoutMs: 600_000 });
let rig: Rig;
let base: string;
t.before(async () => {
  base = await debianBase();
});
t.beforeEach(() => {
  rig = new Rig();
});
t.afterEach(() => rig.cleanup());

const hostState = () => ({
  nginx: (() => {
    try {
      return execFileSync('sh', ['-c', 'command -v nginx || true'], { encoding: 'utf8' });
    } catch {
      return '';
    }
  })(),
  dpkg: execFileSync('dpkg-query', ['-W', '-f', '${Package} ${Version}\n'], { encoding: 'utf8' }),
});

for (const as of ['root', 'user'] as const) {
  t.test(`[${as}] FROM debian, apt-get install nginx, COPY site/: built in the image, cached, incremental`, async () => {
    rig.write({
      'ctx/Dockerfile': `FROM oci-layout://${base}:bookworm
RUN apt-get install -y --no-install-recommends nginx && rm -rf /var/cache/apt/archives/*.deb
COPY site/ /var/www/html/
CMD ["nginx", "-g", "daemon off;"]
`,
      'ctx/site/index.html': '<h1>v1</h1>\n',
    });
    const before = hostState();
    const go = (extra: string[]): Promise<CliResult> => {
      const args = ['build', '--progress=json', '--cache-dir', rig.path('store'), ...extra, rig.path('ctx')];
      if (as === 'root') return runCli(args);
      const u = testUser();
      chownTree(rig.dir, u.uid, u.gid);
      return runCliAs(args);
    };
    const first = await go(['-t', 'web:dev', '-o', `type=oci,dest=${rig.path('web.tar')}`]);
    assert.is(first.code, 0, first.stderr + first.stdout.slice(-4000));
    assert.equal(hostState(), before, 'nothing was installed on this machine');

    if (as === 'root') {
      await tool('skopeo', ['copy', `oci-archive:${rig.path('web.tar')}`, `oci:${rig.path('layout')}:web`]);
      await tool('umoci', ['unpack', '--image', `${rig.path('layout')}:web`, rig.path('bundle')]);
      assert.ok(existsSync(rig.path('bundle/rootfs/usr/sbin/nginx')), 'nginx is in the image');
      assert.is(rig.read('bundle/rootfs/var/www/html/index.html'), '<h1>v1</h1>\n');
    }

    const warm = await go(['-t', 'web:dev']);
    assert.is(warm.code, 0, warm.stderr);
    assert.ok(stepsDone(warm).filter((e) => /^(RUN|COPY)/.test(e.instruction)).every((e) => e.cached), 'all cached');

    writeFileSync(rig.path('ctx/site/index.html'), '<h1>v2</h1>\n');
    const inc = await go(['-t', 'web:dev', '-o', `type=local,dest=${rig.path('out')}`]);
    assert.is(inc.code, 0, inc.stderr);
    const verdict = stepsDone(inc).filter((e) => /^(RUN|COPY)/.test(e.instruction)).map((e) => (e.cached ? 'H' : 'M')).join('');
    assert.is(verdict, 'HM', 'only the COPY reran');
    assert.is(rig.read('out/var/www/html/index.html'), '<h1>v2</h1>\n');
    assert.ok(existsSync(rig.path('out/usr/sbin/nginx')));
  });
}

t.run();
