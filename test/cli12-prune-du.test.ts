/**
 * Issue 12, item 7: Docker's everyday flags on the store commands, through the real CLI:
 * `prune -f --all --dry-run` (a dry run changes not one byte, and the real prune then removes
 * exactly what it listed) and `du -v` (every entry with its size, last use, whether it is
 * shared, and who uses it).
 */
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { suite, Rig } from './util/rig.js';
import { runCli, startCli, stepsDone } from './util/cli.js';

const t = suite('cli12 prune and du', { timeoutMs: 90_000 });
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig('stratum-prune12-');
});
t.afterEach(() => rig.cleanup());

/** Every file, directory and symlink under `root`: type, mode, size, mtime and content digest. */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = lstatSync(p);
      const rel = relative(root, p);
      if (st.isDirectory()) {
        out.set(rel, `dir ${st.mode} ${st.mtimeMs}`);
        walk(p);
      } else if (st.isSymbolicLink()) out.set(rel, `link ${readlinkSync(p)}`);
      else out.set(rel, `file ${st.mode} ${st.size} ${st.mtimeMs} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
    }
  };
  walk(root);
  return out;
}

interface Item {
  kind: string;
  name: string;
  path: string;
  bytes: number;
}
const store = () => rig.path('store');
const build = (ctx: string, ...extra: string[]) => runCli(['build', '--progress=json', '--cache-dir', store(), ...extra, ctx]);

/** A store with something of every kind to prune: an old build's keys, layers and blobs, a
 *  workspace and documents of a deleted context, an old layout's folder; and a tagged image. */
async function messyStore(): Promise<void> {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nCOPY a /\nRUN cp a b\n', 'ctx/a': 'one\n' });
  assert.is((await build(rig.path('ctx'), '-t', 'app:1')).code, 0);
  rig.write({ 'ctx/a': 'two\n' });
  assert.is((await build(rig.path('ctx'))).code, 0);
  rig.write({ 'gone/Dockerfile': 'FROM scratch\nCOPY a /\nRUN cp a c\n', 'gone/a': 'gone\n' });
  assert.is((await build(rig.path('gone'))).code, 0);
  rmSync(rig.path('gone'), { recursive: true });
  mkdirSync(join(store(), 'blobs-v1', 'ab'), { recursive: true });
  writeFileSync(join(store(), 'blobs-v1', 'ab', 'old'), 'x'.repeat(1000));
}

t.test('prune --dry-run lists what would go with sizes and changes not one byte; the real prune removes exactly that', async () => {
  await messyStore();
  const before = snapshot(store());
  const dry = await runCli(['prune', '--all', '--dry-run', '--grace', '0s', '--format', 'json', '--cache-dir', store()]);
  assert.is(dry.code, 0, dry.stderr);
  assert.equal(snapshot(store()), before, 'the store is byte for byte what it was');
  const planned = (JSON.parse(dry.stdout) as { dryRun: boolean; items: Item[] });
  assert.is(planned.dryRun, true);
  const kinds = new Set(planned.items.map((i) => i.kind));
  for (const k of ['key', 'layer', 'blob', 'legacy', 'document', 'directory']) assert.ok(kinds.has(k), `the dry run lists a ${k}: ${[...kinds].join(', ')}`);
  for (const i of planned.items) assert.ok(i.bytes > 0 || i.kind === 'directory', `${i.kind} ${i.name} has a size`);

  // The text form names every item with its size, and says nothing was removed.
  const text = await runCli(['prune', '-a', '--dry-run', '--grace', '0s', '--cache-dir', store()]);
  assert.is(text.code, 0, text.stderr);
  for (const i of planned.items) assert.ok(text.stdout.includes(i.name), `${i.name} in the listing`);
  assert.match(text.stdout, new RegExp(`Would delete ${planned.items.length} items, .* \\(dry run: nothing was removed\\)`));
  assert.equal(snapshot(store()), before);

  const real = await runCli(['prune', '--all', '-f', '--grace', '0s', '--format', 'json', '--cache-dir', store()]);
  assert.is(real.code, 0, real.stderr);
  const done = (JSON.parse(real.stdout) as { dryRun: boolean; items: Item[] });
  assert.is(done.dryRun, false);
  const key = (i: Item) => `${i.kind} ${i.path} ${i.bytes}`;
  assert.equal(done.items.map(key).sort(), planned.items.map(key).sort(), 'removed exactly what the dry run listed');
  // Every path that went was listed (or lies inside a listed folder); nothing else changed
  // but the store's epoch, which a deletion rewrites.
  const after = snapshot(store());
  const listed = planned.items.map((i) => relative(store(), i.path));
  // A workspace slot `N` goes with its bookkeeping files beside it (`N.state.json`, `N.used`…).
  const inListed = (p: string) => listed.some((l) => p === l || p.startsWith(l + '/') || p.startsWith(l + '.'));
  for (const [p, v] of before) {
    if (after.has(p)) continue;
    assert.ok(inListed(p), `${p} was removed without being listed`);
    void v;
  }
  for (const l of listed) assert.ok(!after.has(l), `${l} is still there`);
  for (const [p, v] of after) if (p !== 'epoch' && !p.startsWith('tmp') && before.has(p) && !before.get(p)!.startsWith('dir')) assert.is(v, before.get(p), `${p} changed`);

  // The tagged image survived --all whole: it exports, and a second dry run finds nothing left.
  const out = await runCli(['build', '--progress=plain', '--cache-dir', store(), '-t', 'app:1', '-o', `type=oci,dest=${rig.path('app.tar')}`, rig.path('ctx')]);
  assert.is(out.code, 0, out.stderr);
  const verify = await runCli(['cache', 'verify', '--cache-dir', store()]);
  assert.is(verify.code, 0, verify.stdout + verify.stderr);
});

t.test('prune without --all keeps build keys; --all removes them but never a tagged image\'s layers', async () => {
  await messyStore();
  const plain = JSON.parse((await runCli(['prune', '--dry-run', '--grace', '0s', '--format', 'json', '--cache-dir', store()])).stdout) as { items: Item[] };
  assert.is(plain.items.filter((i) => i.kind === 'key').length, 0, 'unused-only prune keeps the keys');
  const all = JSON.parse((await runCli(['prune', '--all', '--dry-run', '--grace', '0s', '--format', 'json', '--cache-dir', store()])).stdout) as { items: Item[] };
  assert.ok(all.items.filter((i) => i.kind === 'key').length >= 6, 'every build key');
  const layers = (JSON.parse((await runCli(['inspect', '--cache-dir', store(), 'app:1'])).stdout) as { RootFS: { Layers: string[] } }[])[0]!.RootFS.Layers;
  assert.ok(layers.length > 0);
  for (const l of layers) assert.ok(!all.items.some((i) => i.kind === 'layer' && i.name === l), `image layer ${l} is not listed`);
});

t.test('prune --all while a build runs keeps what its lease names: the next build hits every step', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nCOPY a /\nRUN sleep 2 && cp a b\n', 'ctx/a': 'a\n' });
  const { child, done } = startCli(['build', '--progress=json', '--cache-dir', store(), rig.path('ctx')]);
  let stdout = '';
  child.stdout!.on('data', (d) => (stdout += d));
  for (let i = 0; i < 400 && !/"type":"step-start"[^\n]*"instruction":"RUN sleep/.test(stdout); i++) await sleep(25);
  assert.match(stdout, /"instruction":"RUN sleep/, 'the build reached its RUN');
  const prune = await runCli(['prune', '--all', '--grace', '0s', '--format', 'json', '--cache-dir', store()]);
  assert.is(prune.code, 0, prune.stderr);
  assert.is((JSON.parse(prune.stdout) as { leases: number }).leases, 1, 'prune saw the running build');
  assert.is((await done).code, 0);
  const again = await build(rig.path('ctx'));
  assert.equal(stepsDone(again).filter((e) => !e.metadata).map((e) => e.cached), [true, true]);
});

t.test('du -v lists every build key and layer with size, last use, sharing and its users, and touches nothing', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nCOPY a /\nRUN cp a b\n', 'ctx/a': 'one\n' });
  assert.is((await build(rig.path('ctx'), '-t', 'app:1')).code, 0);
  // The same COPY under another RUN: the COPY's layer is now shared by two images.
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nCOPY a /\nRUN cp a c\n' });
  assert.is((await build(rig.path('ctx'), '-t', 'app:2')).code, 0);
  const before = snapshot(store());
  const r = await runCli(['du', '-v', '--format', 'json', '--cache-dir', store()]);
  assert.is(r.code, 0, r.stderr);
  assert.equal(snapshot(store()), before, 'du -v reads, never touches (a key\'s mtime is its last use)');
  const v = (JSON.parse(r.stdout) as { verbose: { buildCache: { step: string; layer: string; size: number; lastUsed: string; shared: boolean }[]; layers: { digest: string; shared: boolean; steps: number; images: string[] }[]; images: { name: string; sharedSize: number; uniqueSize: number }[] } }).verbose;
  assert.equal(v.buildCache.map((k) => k.step).sort(), ['COPY a /', 'RUN cp a b', 'RUN cp a c']);
  const copy = v.buildCache.find((k) => k.step === 'COPY a /')!;
  assert.is(copy.shared, true);
  assert.is(copy.size, 4);
  assert.ok(!Number.isNaN(Date.parse(copy.lastUsed)));
  assert.is(v.buildCache.find((k) => k.step === 'RUN cp a b')!.shared, true, 'its layer is also app:1\'s');
  const copyLayer = v.layers.find((l) => l.digest === copy.layer)!;
  assert.equal(copyLayer.images, ['app:1', 'app:2']);
  assert.is(copyLayer.steps, 1);
  const app1 = v.images.find((i) => i.name === 'app:1')!;
  assert.is(app1.sharedSize, 4, 'the COPY layer is shared with app:2');
  assert.is(app1.uniqueSize, 4, 'the RUN layer is its own');

  const text = await runCli(['du', '-v', '--cache-dir', store()]);
  assert.is(text.code, 0, text.stderr);
  for (const title of ['Images space usage:', 'Containers space usage:', 'Local Volumes space usage:', 'Build cache usage:', 'Layers:']) assert.ok(text.stdout.includes(title), title);
  assert.match(text.stdout, /CACHE ID\s+CACHE TYPE\s+SIZE\s+CREATED\s+LAST USED\s+SHARED\s+STEP/);
  assert.match(text.stdout, /[0-9a-f]{12}\s+COPY\s+4 B\s+.* ago\s+.* ago\s+true\s+COPY a \//);
  assert.match(text.stdout, /app\s+1\s+[0-9a-f]{12}/);
  assert.match(text.stdout, /1 step, app:1, app:2/);
  assert.match(text.stdout, /TYPE\s+TOTAL\s+ACTIVE/, 'the summary follows');
});

t.run();
