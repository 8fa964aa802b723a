/**
 * host-tools RUNs (a chain FROM scratch) write to an overlay over the stage's workspace, and
 * the layer is made from the overlay's upper alone. Through the real CLI, as root and as an
 * ordinary user: the layers are byte-identical to the full-walk path (STRATUM_HOST_TOOLS_OVERLAY=0),
 * on a first build and on an incremental one over the kept workspace, and a refused overlay
 * mount falls back to that path, says so, and gives the same layers.
 */
import * as assert from 'uvu/assert';
import { suite, Rig } from '../util/rig.js';
import { runCli, stepsDone, type CliResult } from '../util/cli.js';
import { chownTree, runCliAs, testUser } from '../util/unprivileged.js';

const t = suite('host-tools over an overlay of the workspace', { timeoutMs: 120_000 });
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig();
});
t.afterEach(() => rig.cleanup());

// Every kind of change a RUN can make to the tree below it: new and changed files, chmod of a
// lower file and dir, a deleted file and subtree (whiteouts), rm -rf && mkdir (opaque), a
// file replaced by a dir and a dir by a file, symlinks, hardlinks, cache and bind mounts
// (left out of the layer), and a RUN in a WORKDIR.
const DOCKERFILE = `FROM scratch
WORKDIR /w
COPY . .
RUN mkdir -p gen/sub && cp a.txt gen/b.txt && chmod 600 gen/b.txt a.txt && ln -s b.txt gen/c && ln gen/b.txt gen/h && chmod 700 d && echo more >> d/two
RUN rm -rf d && mkdir d && echo y > d/z && rm a.txt && rm gen/c && mkdir gen/c && echo f > gen/c/f && rm -rf gen/sub && echo file > gen/sub
RUN --mount=type=cache,target=/w/cache echo c > cache/x && echo out > out.txt
RUN --mount=type=bind,source=d0,target=/mnt/ctx cat ../mnt/ctx/one > copied && ln -s /w/copied abs
WORKDIR /w/new/deeper
RUN echo here > h && cat ../../d0/one > again
`;

function build(store: string, mode: string, as: 'root' | 'user'): Promise<CliResult> {
  const args = ['build', '--progress=json', '--cache-dir', rig.path(store), rig.path('ctx')];
  const env = { STRATUM_HOST_TOOLS_OVERLAY: mode };
  if (as === 'root') return runCli(args, { env });
  const u = testUser();
  chownTree(rig.dir, u.uid, u.gid);
  return runCliAs(args, { env });
}

async function layers(store: string, mode: string, as: 'root' | 'user'): Promise<{ layers: (string | null)[]; r: CliResult }> {
  const r = await build(store, mode, as);
  assert.is(r.code, 0, r.stderr + r.stdout);
  return { layers: stepsDone(r).map((e) => e.layer), r };
}

for (const as of ['root', 'user'] as const) {
  t.test(`[${as}] the overlay's layers are the full walk's, first build and incremental`, async () => {
    rig.write({ 'ctx/Dockerfile': DOCKERFILE, 'ctx/a.txt': 'x\n', 'ctx/d/one': '1\n', 'ctx/d/two': '2\n', 'ctx/d0/one': 'first\n' });
    const over = await layers('s1', '1', as);
    const walk = await layers('s2', '0', as);
    assert.equal(over.layers, walk.layers);
    assert.is(over.layers.filter((l) => l !== null).length, 8, 'every step made a layer');
    // One changed file: every later step runs again over the workspace the first build left.
    rig.write({ 'ctx/d0/one': 'second\n' });
    const over2 = await layers('s1', '1', as);
    const walk2 = await layers('s2', '0', as);
    assert.equal(over2.layers, walk2.layers);
    assert.not.equal(over2.layers, over.layers, 'the change reached the layers');
    assert.not.ok(/host-tools RUNs write to the workspace directly/.test(over.r.stdout + over.r.stderr), 'no fallback');
  });
}

t.test('a refused overlay mount falls back to the full walk once, says so, and gives the same layers', async () => {
  rig.write({ 'ctx/Dockerfile': DOCKERFILE, 'ctx/a.txt': 'x\n', 'ctx/d/one': '1\n', 'ctx/d/two': '2\n', 'ctx/d0/one': 'first\n' });
  const refused = await layers('s1', 'refuse-for-test', 'root');
  const walk = await layers('s2', '0', 'root');
  assert.equal(refused.layers, walk.layers);
  const said = (refused.r.stdout.match(/host-tools RUNs write to the workspace directly in this process/g) ?? []).length;
  assert.is(said, 1, 'said once, by the first RUN');
});

t.run();
