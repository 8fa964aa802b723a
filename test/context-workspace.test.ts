/**
 * The two places that must never redo work: the context's stat cache (unchanged files are
 * not read) and the workspace (only the view difference is written; only moved stats are
 * hashed). Asserted through their work counters, on real files.
 */
import * as assert from 'uvu/assert';
import { existsSync, statSync, utimesSync, writeFileSync, rmSync, readFileSync } from 'node:fs';
import { suite, Rig } from './util/rig.js';
import { createStore } from '../cache/store.js';
import { ContextReader } from '../engine/context.js';
import { createMatcher } from '../engine/dockerignore.js';
import { Workspace } from '../engine/workspace.js';
import { mergeLayers, chainOf } from '../engine/union-view.js';
import type { LayerEntry } from '../cache/layer-types.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const t = suite('context and workspace');
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig();
});
t.afterEach(() => rig.cleanup());

t.test('the stat cache reads only changed files, and catches a same-size change with the mtime restored', async () => {
  const files: Record<string, string> = {};
  for (let i = 0; i < 50; i++) files[`ctx/src/f${i}.txt`] = `content ${i}\n`;
  rig.write(files);
  await sleep(80); // past the racy window, so the first hashes can be trusted
  const store = createStore(rig.path('store'));
  const read = () => {
    const ctx = new ContextReader(rig.path('ctx'), createMatcher([], undefined), store);
    const sel = ctx.select('src');
    ctx.save();
    return { ctx, digests: new Map(sel[0]!.children.map((c) => [c.rel, c.digest])) };
  };
  const first = read();
  assert.is(first.ctx.hashed, 50);
  const second = read();
  assert.is(second.ctx.hashed, 0, 'nothing changed: nothing read');
  assert.equal(second.digests, first.digests);

  const p = rig.path('ctx/src/f7.txt');
  const before = statSync(p);
  writeFileSync(p, 'CONTENT 7\n'); // same size
  utimesSync(p, before.atime, before.mtime);
  await sleep(80);
  const third = read();
  assert.is(third.ctx.hashed, 1, 'only the changed file is read');
  assert.is.not(third.digests.get('src/f7.txt'), first.digests.get('src/f7.txt'));
});

t.test('a file modified right after it was hashed is re-read next time (racy-clean)', async () => {
  rig.write({ 'ctx/a.txt': 'one' });
  const store = createStore(rig.path('store'));
  const ctx1 = new ContextReader(rig.path('ctx'), createMatcher([], undefined), store);
  const d1 = ctx1.entry('a.txt')!.digest;
  ctx1.save();
  writeFileSync(rig.path('ctx/a.txt'), 'two'); // within the same clock tick, possibly
  const ctx2 = new ContextReader(rig.path('ctx'), createMatcher([], undefined), store);
  assert.is.not(ctx2.entry('a.txt')!.digest, d1);
});

const file = (path: string, store: ReturnType<typeof createStore>, content: string, mode = 0o644): LayerEntry => {
  const b = store.writeBlob(Buffer.from(content));
  return { path, type: 'file', mode, size: b.size, digest: b.digest };
};

t.test('the workspace applies only the difference between two chains', () => {
  const store = createStore(rig.path('store'));
  const base: LayerEntry[] = [];
  for (let i = 0; i < 40; i++) base.push(file(`lib/m${i}.js`, store, `module ${i}`));
  const l1 = store.putLayer(base);
  const l2a = store.putLayer([file('app/main.js', store, 'v1'), { path: 'lib/m3.js', type: 'whiteout' }]);
  const l2b = store.putLayer([file('app/main.js', store, 'v2', 0o755)]);
  const ws = new Workspace(store, 'test');
  const a = ws.sync([l1.digest, l2a.digest], chainOf([l1.digest, l2a.digest]), mergeLayers([l1.entries, l2a.entries]));
  assert.is(a.written, 39 + 1 + 2, '39 lib files, main.js, and the lib and app dirs');
  assert.not.ok(ws.exists('lib/m3.js'));
  const again = ws.sync([l1.digest, l2a.digest], chainOf([l1.digest, l2a.digest]), mergeLayers([l1.entries, l2a.entries]));
  assert.is(again.written + again.removed, 0, 'same chain: nothing touched');
  const b = ws.sync([l1.digest, l2b.digest], chainOf([l1.digest, l2b.digest]), mergeLayers([l1.entries, l2b.entries]));
  assert.is(b.written, 2, 'main.js rewritten and lib/m3.js restored');
  assert.is(readFileSync(`${ws.root}/app/main.js`, 'utf8'), 'v2');
  assert.is(statSync(`${ws.root}/app/main.js`).mode & 0o777, 0o755);
});

t.test('a snapshot hashes only what moved and records deletions as top-most whiteouts', async () => {
  const store = createStore(rig.path('store'));
  const entries: LayerEntry[] = [];
  for (let i = 0; i < 30; i++) entries.push(file(`deep/dir/f${i}`, store, `f${i}`));
  entries.push(file('keep.txt', store, 'keep'));
  const l1 = store.putLayer(entries);
  const view = mergeLayers([l1.entries]);
  const ws = new Workspace(store, 'snap');
  ws.sync([l1.digest], chainOf([l1.digest]), view);
  await ws.beginRun();
  rmSync(`${ws.root}/deep`, { recursive: true });
  writeFileSync(`${ws.root}/new.txt`, 'new');
  writeFileSync(`${ws.root}/keep.txt`, 'KEEP'); // same size
  const snap = ws.snapshot(view);
  assert.is(snap.hashed, 2, 'new.txt and keep.txt; the 30 untouched files were not read');
  assert.equal(
    snap.entries.map((e) => [e.path, e.type]),
    [
      ['deep', 'whiteout'],
      ['keep.txt', 'file'],
      ['new.txt', 'file'],
    ],
  );
});

t.test('a RUN saves the stat rows once, after its snapshot; the dirty marker covers the sync and the RUN', async () => {
  const store = createStore(rig.path('store'));
  const l1 = store.putLayer([file('a.txt', store, 'a'), file('b.txt', store, 'b')]);
  const view = mergeLayers([l1.entries]);
  const ws = new Workspace(store, 'once');
  const slot = ws.dir.replace(/\/0$/, '');
  const marker = `${slot}/0.dirty`;
  const state = `${slot}/0.state.json`;
  const saved = () => (existsSync(state) ? (JSON.parse(readFileSync(state, 'utf8')) as { chain: string; clean: boolean }) : undefined);
  ws.sync([l1.digest], chainOf([l1.digest]), view);
  assert.ok(existsSync(marker), 'the marker is set by the sync and stays');
  assert.is(saved(), undefined, 'the sync saved nothing: the RUN that follows does');
  await ws.beginRun();
  assert.is(saved(), undefined, 'beginRun saves nothing either');
  writeFileSync(`${ws.root}/c.txt`, 'c');
  const snap = ws.snapshot(view);
  const l2 = store.putLayer(snap.entries);
  ws.commit([l1.digest, l2.digest], chainOf([l1.digest, l2.digest]));
  assert.not.ok(existsSync(marker), 'cleared once the records describe the tree');
  assert.equal(saved(), { ...saved()!, chain: chainOf([l1.digest, l2.digest]), clean: true });
  // A sync that no RUN follows is saved when the slot is given back.
  ws.sync([l1.digest], chainOf([l1.digest]), view);
  assert.ok(existsSync(marker));
  ws.release();
  assert.not.ok(existsSync(marker));
  assert.is(saved()?.chain, chainOf([l1.digest]));
  const again = new Workspace(store, 'once');
  assert.equal(again.sync([l1.digest], chainOf([l1.digest]), view), { written: 0, removed: 0, ms: 0 }, 'the next build trusts the saved records');
  again.release();
});

t.test('past decidedBelow segments a path has its parent directory\'s .dockerignore verdict', () => {
  const sets = [['*.log', 'tmp/'], ['a/*/c', '!a/b/c'], ['*', '!b'], ['a', '!a/b/x.log', 'b?/c'], ['/x/y/', './z']];
  const names = ['a', 'b', 'c', 'x', 'y', 'z', 'tmp', 'x.log', 'b1'];
  let checked = 0;
  for (const patterns of sets) {
    const m = createMatcher(patterns, undefined);
    assert.ok(Number.isFinite(m.decidedBelow), patterns.join(' '));
    const visit = (rel: string, depth: number) => {
      if (depth >= 5) return;
      for (const n of names) {
        const child = rel === '' ? n : `${rel}/${n}`;
        if (depth + 1 > m.decidedBelow) {
          assert.is(m.ignores(child), m.ignores(rel), `${patterns.join(' ')}: ${child}`);
          checked++;
        }
        visit(child, depth + 1);
      }
    };
    visit('', 0);
  }
  assert.ok(checked > 1000);
  assert.is(createMatcher(['**/*.log'], undefined).decidedBelow, Infinity);
});

t.run();
