/**
 * The sandbox executor through the real CLI, on a busybox base image: RUN sees the image as
 * `/`, writes only its own layer, and the layer is what the kernel's overlay recorded
 * (whiteouts, opaque directories, owners), checked with umoci. As root and as an ordinary
 * user.
 */
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite, Rig } from '../util/rig.js';
import { runCli, startCli, stepsDone, type CliResult } from '../util/cli.js';
import { busyboxBase } from '../util/base-images.js';
import { tool } from '../util/oci-kit.js';
import { chownTree, runCliAs, testUser } from '../util/unprivileged.js';

const t = suite('sandbox e2e (busybox)', { timeoutMs: 120_000 });
let rig: Rig;
let base: string;
t.before(async () => {
  base = await busyboxBase();
});
t.beforeEach(() => {
  rig = new Rig();
});
t.afterEach(() => rig.cleanup());

const sha = (v: string) => createHash('sha256').update(v).digest('hex');
const FROM = () => `FROM oci-layout://${base}:latest`;

function build(extra: string[], as: 'root' | 'user' = 'root'): Promise<CliResult> {
  const args = ['build', '--progress=json', '--cache-dir', rig.path('store'), ...extra, rig.path('ctx')];
  if (as === 'root') return runCli(args);
  const u = testUser();
  chownTree(rig.dir, u.uid, u.gid);
  return runCliAs(args);
}

/** Unpack an OCI archive's image with umoci, as root (owners kept). */
async function umociUnpack(archive: string, dest: string): Promise<void> {
  await tool('skopeo', ['copy', `oci-archive:${archive}`, `oci:${rig.path('layout')}:x`]);
  await tool('umoci', ['unpack', '--image', `${rig.path('layout')}:x`, dest]);
}

for (const as of ['root', 'user'] as const) {
  t.test(`[${as}] RUN sees the image as /, and its layer holds exactly the overlay's changes`, async () => {
    rig.write({
      'ctx/Dockerfile': `${FROM()}
RUN mkdir -p /usr/local/bin /d && echo one > /d/a && echo tool > /usr/local/bin/stratum-sandbox-probe
RUN rm /bin/cat && rm -rf /d && mkdir /d && echo two > /d/b
RUN echo mine > /owned && chown 1000:1000 /owned
`,
    });
    const r = await build(['-o', `type=oci,dest=${rig.path('img.tar')}`], as);
    assert.is(r.code, 0, r.stderr + r.stdout);
    assert.not.ok(existsSync('/usr/local/bin/stratum-sandbox-probe'), 'the host /usr/local/bin is untouched');
    if (as === 'root') {
      await umociUnpack(rig.path('img.tar'), rig.path('bundle'));
      const rootfs = rig.path('bundle/rootfs');
      assert.not.ok(existsSync(`${rootfs}/bin/cat`), 'a file deleted from a lower layer is gone (whiteout)');
      assert.ok(existsSync(`${rootfs}/bin/sh`));
      assert.equal(readdirSync(`${rootfs}/d`), ['b'], 'rm -rf d && mkdir d replaced the directory (opaque)');
      assert.is(readFileSync(`${rootfs}/usr/local/bin/stratum-sandbox-probe`, 'utf8'), 'tool\n');
      const st = lstatSync(`${rootfs}/owned`);
      assert.equal([st.uid, st.gid], [1000, 1000], 'chown inside the RUN is in the layer');
    }
    const again = await build([], as);
    assert.is(again.code, 0, again.stderr);
    assert.ok(stepsDone(again).filter((e) => e.layer !== null || e.instruction.startsWith('RUN')).every((e) => e.cached), 'a rebuild is all cached');
  });
}

t.test('RUN --network=none cannot reach a server on the host; the default network can', async () => {
  const server: Server = createServer((_q, res) => res.end('hello from the host\n'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  try {
    rig.write({ 'ctx/Dockerfile': `${FROM()}\nRUN wget -q -O /got.txt http://127.0.0.1:${port}/\n` });
    const ok = await build(['-o', `type=local,dest=${rig.path('out')}`]);
    assert.is(ok.code, 0, ok.stderr + ok.stdout);
    assert.is(rig.read('out/got.txt'), 'hello from the host\n');
    rig.write({ 'ctx/Dockerfile': `${FROM()}\nRUN --network=none wget -q -T 2 -O /got.txt http://127.0.0.1:${port}/\n` });
    const none = await build([]);
    assert.is(none.code, 1, none.stderr + none.stdout);
  } finally {
    server.close();
  }
});

t.test('kill -9 of the CLI during a sandboxed RUN leaves no process, no mount and no layer; the next build works', async () => {
  const marker = `sleep 47.${process.pid}`;
  rig.write({ 'ctx/Dockerfile': `${FROM()}\nRUN echo started > /started && ${marker}\n` });
  const { child, done } = startCli(['build', '--progress=json', '--cache-dir', rig.path('store'), rig.path('ctx')]);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const deadline = Date.now() + 30_000;
  while (!execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).includes(marker)) {
    if (Date.now() > deadline) throw new Error(`the RUN never started: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  await done;
  const gone = Date.now() + 5_000;
  while (execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).includes(marker)) {
    if (Date.now() > gone) assert.unreachable('the RUN outlived the CLI');
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.not.ok(readFileSync('/proc/self/mountinfo', 'utf8').includes(rig.path('store')), 'no mount left under the store');
  writeFileSync(rig.path('ctx/Dockerfile'), `${FROM()}\nRUN echo finished > /done\n`);
  const r = await build(['-o', `type=local,dest=${rig.path('out')}`]);
  assert.is(r.code, 0, r.stderr);
  assert.is(rig.read('out/done'), 'finished\n');
  assert.not.ok(existsSync(rig.path('out/started')), 'nothing of the killed RUN became a layer');
});

t.test('a FROM scratch stage runs the host tools read-only: writes outside the workspace fail, host secrets stay out', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nRUN touch /usr/local/stratum-probe\n' });
  const ro = await build([]);
  assert.is(ro.code, 1);
  const failed = ro.events.find((e) => e.type === 'step-failed');
  assert.ok(failed && failed.type === 'step-failed' && /read-only/i.test(`${failed.message} ${failed.hint ?? ''} ${failed.logTail.join(' ')}`), JSON.stringify(failed));
  assert.not.ok(existsSync('/usr/local/stratum-probe'));

  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nRUN ["/bin/sh", "-c", "echo \\"[$AWS_SECRET_ACCESS_KEY]\\" > secret.txt; touch /tmp/stratum-private-tmp-probe"]\n' });
  const env = { AWS_SECRET_ACCESS_KEY: 'hunter2' };
  const hidden = await runCli(['build', '--progress=json', '--cache-dir', rig.path('store'), '-o', `type=local,dest=${rig.path('out1')}`, rig.path('ctx')], { env });
  assert.is(hidden.code, 0, hidden.stderr);
  assert.is(rig.read('out1/secret.txt'), '[]\n');
  assert.not.ok(existsSync('/tmp/stratum-private-tmp-probe'), '/tmp is private to the RUN');
  const passed = await runCli(['build', '--progress=json', '--env-pass', 'AWS_SECRET_ACCESS_KEY', '--no-cache', '--cache-dir', rig.path('store'), '-o', `type=local,dest=${rig.path('out2')}`, rig.path('ctx')], { env });
  assert.is(passed.code, 0, passed.stderr);
  assert.is(rig.read('out2/secret.txt'), '[hunter2]\n');
});

t.test('a scratch chain gives the same layers through --executor=host and the sandbox', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nWORKDIR /w\nCOPY a.txt .\nRUN mkdir -p gen && cp a.txt gen/b.txt && chmod 600 gen/b.txt && ln -s b.txt gen/c\n', 'ctx/a.txt': 'x\n' });
  const layers = async (executor: string, store: string) => {
    const r = await runCli(['build', '--progress=json', `--executor=${executor}`, '--cache-dir', rig.path(store), rig.path('ctx')]);
    assert.is(r.code, 0, r.stderr);
    return stepsDone(r).map((e) => e.layer);
  };
  assert.equal(await layers('sandbox', 's1'), await layers('host', 's2'));
});

t.test('secrets and context binds reach the RUN and never the layer, the key or the store', async () => {
  rig.write({
    'ctx/Dockerfile': `${FROM()}
RUN --mount=type=secret,id=tok,required=true --mount=type=secret,id=fromenv,target=/etc/tok2 --mount=type=bind,source=conf,target=/mnt/conf \\
    test "$(sha256sum < /run/secrets/tok | cut -c1-64)" = ${sha('hunter2')} && test "$(sha256sum < /etc/tok2 | cut -c1-64)" = ${sha('swordfish')} && cat /mnt/conf/a > /copied && ! touch /mnt/conf/new 2>/dev/null && echo ok > /ok
`,
    'ctx/conf/a': 'from the context\n',
    'tok.txt': 'hunter2',
  });
  const r = await runCli(['build', '--progress=json', '--cache-dir', rig.path('store'), '--secret', `id=tok,src=${rig.path('tok.txt')}`, '--secret', 'id=fromenv,env=STRATUM_TEST_SECRET', '-o', `type=local,dest=${rig.path('out')}`, rig.path('ctx')], { env: { STRATUM_TEST_SECRET: 'swordfish' } });
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.is(rig.read('out/ok'), 'ok\n');
  assert.is(rig.read('out/copied'), 'from the context\n');
  assert.not.ok(rig.exists('out/run/secrets/tok') || rig.exists('out/etc/tok2') || rig.exists('out/mnt/conf/a'), 'mount points and contents stay out of the layer');
  assert.not.ok(rig.exists('ctx/conf/new'), 'the context bind is read-only');
  const grep = execFileSync('sh', ['-c', `grep -rl -e hunter2 -e swordfish ${rig.path('store')} || true`], { encoding: 'utf8' });
  assert.is(grep, '', 'no secret value anywhere in the store');
  assert.not.ok(r.stdout.includes('hunter2') || r.stdout.includes('swordfish'));
  const missing = await runCli(['build', '--progress=json', '--no-cache', '--cache-dir', rig.path('store'), rig.path('ctx')]);
  assert.is(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /secret "tok" is required but was not given/);
});

t.test('a RUN that reads a bound context file misses when the file changes, and sees only what its key covers', async () => {
  rig.write({
    'ctx/Dockerfile': `${FROM()}\nRUN --mount=type=bind,source=conf,target=/mnt/conf cat /mnt/conf/a > /copied && ls -a /mnt/conf > /listing\n`,
    'ctx/conf/a': 'one\n',
    'ctx/conf/ignored.txt': 'not in the context\n',
    'ctx/.dockerignore': 'conf/ignored.txt\n',
  });
  const out = ['-o', `type=local,dest=${rig.path('out')}`];
  const first = await build(out);
  assert.is(first.code, 0, first.stderr + first.stdout);
  assert.is(rig.read('out/copied'), 'one\n');
  assert.is(rig.read('out/listing'), '.\n..\na\n', 'a .dockerignored file is not in the mount');
  rig.write({ 'ctx/conf/a': 'two\n' });
  const second = await build(out);
  assert.is(second.code, 0, second.stderr + second.stdout);
  const run = stepsDone(second).find((e) => e.instruction.startsWith('RUN'))!;
  assert.not.ok(run.cached, 'the RUN reruns: a bound file changed');
  assert.match(run.reason ?? '', /conf\/a changed/);
  assert.is(rig.read('out/copied'), 'two\n', 'the rebuilt layer has the new content');
  rig.write({ 'ctx/conf/ignored.txt': 'changed, but ignored\n' });
  const third = await build(out);
  assert.ok(stepsDone(third).every((e) => e.cached || e.layer === null), 'an ignored file is not an input');
  rig.write({ 'ctx/Dockerfile': `${FROM()}\nRUN --mount=type=bind,source=nosuch,target=/x true\n` });
  const bad = await build([]);
  assert.is(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /Dockerfile:2:1: RUN --mount=type=bind source "nosuch" not found in the build context/);
});

t.test('RUN --mount=type=bind,from=<stage> sees that stage\'s files read-only, and reruns when the stage changes', async () => {
  const dockerfile = (source: string) => `${FROM()} AS gen
COPY conf/ /g/conf/
RUN mkdir -p /g/out && cp /g/conf/a /g/out/y && ln -s y /g/out/z
FROM ${FROM().slice(5)}
RUN --mount=type=bind,from=gen,source=${source},target=/in cat /in/y /in/z > /got && ! touch /in/new 2>/dev/null && test ! -e /in/../g
`;
  rig.write({ 'ctx/Dockerfile': dockerfile('/g/out'), 'ctx/conf/a': 'one\n' });
  const out = ['-o', `type=local,dest=${rig.path('out')}`];
  const first = await build(out);
  assert.is(first.code, 0, first.stderr + first.stdout);
  assert.is(rig.read('out/got'), 'one\none\n');
  assert.not.ok(rig.exists('out/in/y'), 'the mounted files stay out of the layer');
  const again = await build(out);
  assert.ok(stepsDone(again).every((e) => e.cached || e.layer === null), 'all cached');
  rig.write({ 'ctx/conf/a': 'two\n' });
  const changed = await build(out);
  assert.is(changed.code, 0, changed.stderr);
  const run = stepsDone(changed).filter((e) => e.instruction.startsWith('RUN')).at(-1)!;
  assert.not.ok(run.cached);
  assert.is(run.reason, 'mounted stage changed');
  assert.is(rig.read('out/got'), 'two\ntwo\n');
  rig.write({ 'ctx/Dockerfile': dockerfile('/g/nosuch') });
  const bad = await build([]);
  assert.is(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /RUN --mount=type=bind,from=gen: source \/g\/nosuch not found in that stage/);
});

t.test('ONBUILD triggers of a base image run right after FROM, and the new image does not inherit them', async () => {
  rig.write({
    'base/Dockerfile': `${FROM()}\nONBUILD COPY a.txt /got.txt\nONBUILD RUN cp /got.txt /ran.txt\n`,
    'ctx/Dockerfile': 'FROM onbuild-base:1\nCOPY b.txt /b.txt\n',
    'ctx/a.txt': 'from the app context\n',
    'ctx/b.txt': 'b\n',
  });
  const b = await runCli(['build', '--progress=json', '--cache-dir', rig.path('store'), '-t', 'onbuild-base:1', rig.path('base')]);
  assert.is(b.code, 0, b.stderr);
  assert.not.ok(rig.exists('base/got.txt'));
  const r = await build(['-t', 'app:1', '-o', `type=local,dest=${rig.path('out')}`]);
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.equal(stepsDone(r).map((e) => e.instruction), ['FROM onbuild-base:1', 'ONBUILD COPY a.txt /got.txt', 'ONBUILD RUN cp /got.txt /ran.txt', 'COPY b.txt /b.txt']);
  assert.is(rig.read('out/ran.txt'), 'from the app context\n');
  const inspect = await runCli(['inspect', '--cache-dir', rig.path('store'), 'app:1']);
  assert.is(inspect.code, 0, inspect.stderr);
  assert.not.match(inspect.stdout, '"OnBuild"', 'the triggers are not inherited');
  rig.write({ 'ctx/a.txt': 'changed\n' });
  const again = await build(['-o', `type=local,dest=${rig.path('out')}`]);
  assert.is(stepsDone(again).find((e) => e.instruction.startsWith('ONBUILD COPY'))!.reason, 'a.txt changed');
  assert.is(rig.read('out/ran.txt'), 'changed\n');
});

t.test('RUN --mount=type=ssh binds the forwarded agent socket in the image, with SSH_AUTH_SOCK', async () => {
  const { spawn } = await import('node:child_process');
  const sock = rig.path('agent.sock');
  const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 100 && !rig.exists('agent.sock'); i++) await new Promise((r) => setTimeout(r, 20));
    rig.write({ 'ctx/Dockerfile': `${FROM()}\nRUN --mount=type=ssh test -S "$SSH_AUTH_SOCK" && echo "$SSH_AUTH_SOCK" > /sock && ls /run/buildkit > /listing\n` });
    const r = await build(['--ssh', `default=${sock}`, '-o', `type=local,dest=${rig.path('out')}`]);
    assert.is(r.code, 0, r.stderr + r.stdout);
    assert.is(rig.read('out/sock'), '/run/buildkit/ssh_agent.0\n');
    assert.is(rig.read('out/listing'), 'ssh_agent.0\n');
    assert.not.ok(rig.exists('out/run/buildkit/ssh_agent.0'), 'the mount point stays out of the layer');
  } finally {
    agent.kill();
  }
});

for (const as of ['root', 'user'] as const) {
  t.test(`bind,rw (as ${as}): the RUN may write into the mount, and its writes are dropped, under any owner`, async () => {
    rig.write({
      'ctx/Dockerfile': `${FROM()} AS etc
${FROM()}
RUN --mount=type=bind,source=conf,target=/mnt/conf,rw --mount=type=bind,from=etc,source=/etc,target=/mnt/etc,rw \\
    echo new > /mnt/conf/new && mkdir /mnt/conf/d && touch /mnt/conf/d/x && chown -R 1000:1000 /mnt/conf/d && chmod 500 /mnt/conf/d && \\
    echo x >> /mnt/etc/passwd && cat /mnt/conf/a /mnt/conf/new > /copied
`,
      'ctx/conf/a': 'a\n',
    });
    const r = await build(['-o', `type=local,dest=${rig.path('out')}`], as);
    assert.is(r.code, 0, r.stderr + r.stdout);
    assert.is(rig.read('out/copied'), 'a\nnew\n');
    assert.not.ok(rig.exists('ctx/conf/new') || rig.exists('ctx/conf/d'), 'the context is untouched');
    assert.not.ok(rig.exists('out/mnt/conf/new'), 'the writes are not in the layer');
    assert.not.match(rig.read('out/etc/passwd'), /\nx\n/, "the mounted stage's files are not changed");
  });
}

t.test('prune leaves the extracted layers of the sandbox alone', async () => {
  rig.write({ 'ctx/Dockerfile': `${FROM()}\nRUN echo x > /x\n` });
  const r = await build(['-t', 'kept:1']);
  assert.is(r.code, 0, r.stderr);
  const xdir = rig.path('store/dirs/layers-x');
  const old = new Date(Date.now() - 3600_000);
  for (const h of readdirSync(xdir)) utimesSync(`${xdir}/${h}`, old, old);
  const before = readdirSync(xdir).flatMap((h) => readdirSync(`${xdir}/${h}`));
  assert.ok(before.length > 0);
  const p = await runCli(['prune', '--grace', '0s', '--cache-dir', rig.path('store')]);
  assert.is(p.code, 0, p.stderr);
  assert.equal(readdirSync(xdir).flatMap((h) => readdirSync(`${xdir}/${h}`)), before, 'extracted layers survive a prune');
  const again = await build(['--no-cache']);
  assert.is(again.code, 0, again.stderr);
});

t.run();
