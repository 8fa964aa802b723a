/**
 * The two places that must never redo work: the context's stat cache (unchanged files are
 * not read) and the workspace (only the view difference is written; only moved stats are
 * hashed). Asserted through their work counters, on real files.
 */
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, mkdirSync, statSync, symlinkSync, utimesSync, writeFileSync, rmSync, readFileSync } from 'node:fs';
import { suite, Rig } from './util/rig.js';
import { createStore } from '../cache/store.js';
import { ContextReader } from '../engine/context.js';
import { createMatcher } from '../engine/dockerignore.js';
import { Workspace } from '../engine/workspace.js';
import { mergeLayers, chainOf } from '../engine/union-view.js';
import type { LayerEntry } from '../cache/layer-types.js';
import type { UpperChange } from '../engine/sandbox/snapshot.js';

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

t.test('applyUpper: the layer of an overlay upper equals the full walk\'s, and only the upper\'s paths are read', async () => {
  const store = createStore(rig.path('store'));
  const entries: LayerEntry[] = [];
  for (let i = 0; i < 20; i++) entries.push(file(`big/f${i}`, store, `f${i}`));
  for (let i = 0; i < 5; i++) entries.push(file(`gone/g${i}`, store, `g${i}`), file(`again/a${i}`, store, `a${i}`));
  entries.push(file('keep.txt', store, 'keep'), file('edit.txt', store, 'edit'), file('todir', store, 'was a file'), file('tofile/x', store, 'x'));
  entries.push({ path: 'mode', type: 'dir', mode: 0o755 }, file('mode/m', store, 'm'), { path: 'ln', type: 'symlink', mode: 0o777, target: 'keep.txt' });
  const l1 = store.putLayer(entries);
  const view = mergeLayers([l1.entries]);
  const walked = new Workspace(store, 'walked');
  const over = new Workspace(store, 'over');
  for (const ws of [walked, over]) {
    ws.sync([l1.digest], chainOf([l1.digest]), view);
    await ws.beginRun();
  }
  // The same RUN twice: on one tree directly, and as an overlay's upper over the other.
  const up = rig.path('upper');
  const onTree = (root: string) => {
    rmSync(`${root}/gone`, { recursive: true });
    rmSync(`${root}/again`, { recursive: true });
    mkdirSync(`${root}/again`);
    writeFileSync(`${root}/again/new`, 'n');
    writeFileSync(`${root}/edit.txt`, 'EDIT');
    rmSync(`${root}/todir`);
    mkdirSync(`${root}/todir`);
    writeFileSync(`${root}/todir/in`, 'in');
    rmSync(`${root}/tofile`, { recursive: true });
    writeFileSync(`${root}/tofile`, 'now a file');
    chmodSync(`${root}/mode`, 0o700);
    rmSync(`${root}/ln`);
    symlinkSync('edit.txt', `${root}/ln`);
    mkdirSync(`${root}/big/sub`);
    writeFileSync(`${root}/big/sub/deep`, 'deep');
    writeFileSync(`${root}/fresh`, 'fresh', { mode: 0o600 });
    chmodSync(`${root}/fresh`, 0o600);
  };
  onTree(walked.root);
  mkdirSync(up);
  for (const d of ['again', 'todir', 'mode', 'big', 'big/sub']) mkdirSync(`${up}/${d}`);
  chmodSync(`${up}/mode`, 0o700);
  writeFileSync(`${up}/again/new`, 'n');
  writeFileSync(`${up}/edit.txt`, 'EDIT');
  writeFileSync(`${up}/todir/in`, 'in');
  writeFileSync(`${up}/tofile`, 'now a file');
  symlinkSync('edit.txt', `${up}/ln`);
  writeFileSync(`${up}/big/sub/deep`, 'deep');
  writeFileSync(`${up}/fresh`, 'fresh');
  chmodSync(`${up}/fresh`, 0o600);
  const changes: UpperChange[] = [
    { path: 'again', kind: 'opaque', mode: 0o755, file: false, linked: false },
    { path: 'again/new', kind: 'other', mode: 0o644, file: true, linked: false },
    { path: 'big', kind: 'dir', mode: 0o755, file: false, linked: false },
    { path: 'big/sub', kind: 'dir', mode: 0o755, file: false, linked: false },
    { path: 'big/sub/deep', kind: 'other', mode: 0o644, file: true, linked: false },
    { path: 'edit.txt', kind: 'other', mode: 0o644, file: true, linked: false },
    { path: 'fresh', kind: 'other', mode: 0o600, file: true, linked: false },
    { path: 'gone', kind: 'whiteout', mode: 0, file: false, linked: false },
    { path: 'ln', kind: 'other', mode: 0o777, file: false, linked: false },
    { path: 'mode', kind: 'dir', mode: 0o700, file: false, linked: false },
    { path: 'todir', kind: 'dir', mode: 0o755, file: false, linked: false },
    { path: 'todir/in', kind: 'other', mode: 0o644, file: true, linked: false },
    { path: 'tofile', kind: 'other', mode: 0o644, file: true, linked: false },
  ];
  // A file the RUN did not touch, changed behind the engine's back: the walk reads it, the
  // upper's apply never looks at it (no rewalk of unchanged trees).
  writeFileSync(`${over.root}/big/f3`, 'F3');
  const walk = walked.snapshot(view);
  const applied = over.applyUpper(view, up, changes);
  assert.equal(applied.entries, walk.entries, 'the same layer (and big/f3 not in it)');
  assert.is(applied.hashed, 6, 'the upper\'s six files, nothing else');
  assert.is(readFileSync(`${over.root}/todir/in`, 'utf8'), 'in');
  assert.not.ok(existsSync(`${over.root}/gone`) || existsSync(`${over.root}/again/a0`) || existsSync(`${up}/fresh`), 'deletions applied, leaves moved out of the upper');
  assert.is(statSync(`${over.root}/mode`).mode & 0o777, 0o700);
  const l2 = store.putLayer(applied.entries);
  over.commit([l1.digest, l2.digest], chainOf([l1.digest, l2.digest]));
  over.release();
  walked.release();
  // The records describe the tree: a later full walk against them finds only big/f3.
  const next = new Workspace(store, 'over');
  await next.beginRun();
  const check = next.snapshot(mergeLayers([l1.entries, l2.entries]));
  assert.equal(check.entries.map((e) => e.path), ['big/f3']);
  assert.is(check.hashed, 1);
  next.release();
});

t.test('a kept reader (watch) reads again only the directories invalidate() names, and sees every add, delete and new tree there', () => {
  const files: Record<string, string> = {};
  for (let d = 0; d < 5; d++) for (let i = 0; i < 4; i++) files[`ctx/src/d${d}/f${i}.js`] = `${d}.${i}\n`;
  rig.write(files);
  const ctx = new ContextReader(rig.path('ctx'), createMatcher([], undefined));
  const rels = () => ctx.walk('src').map((e) => e.rel);
  const first = rels();
  assert.is(first.length, 5 + 20);
  const listed = ctx.listed;
  assert.equal(rels(), first);
  assert.is(ctx.listed, listed, 'an unchanged tree: no directory read again');
  // What chokidar reports for: a new file, a deleted one, a new directory with a file in it.
  writeFileSync(rig.path('ctx/src/d1/new.js'), 'n\n');
  rmSync(rig.path('ctx/src/d3/f0.js'));
  mkdirSync(rig.path('ctx/src/d2/sub'));
  writeFileSync(rig.path('ctx/src/d2/sub/x.js'), 'x\n');
  ctx.invalidate(['src/d1/new.js', 'src/d3/f0.js', 'src/d2/sub', 'src/d2/sub/x.js']);
  const after = rels();
  assert.ok(after.includes('src/d1/new.js') && after.includes('src/d2/sub') && after.includes('src/d2/sub/x.js'), after.join(' '));
  assert.not.ok(after.includes('src/d3/f0.js'));
  assert.is(after.length, first.length + 3 - 1);
  assert.is(ctx.listed - listed, 4, 'd1, d2, d2/sub and d3 read again, nothing else');
  // A removed directory, and its parent's listing with it.
  rmSync(rig.path('ctx/src/d4'), { recursive: true });
  ctx.invalidate(['src/d4']);
  assert.not.ok(rels().some((r) => r.startsWith('src/d4')));
  // A one-shot reader keeps no listing: every walk reads every directory.
  const once = new ContextReader(rig.path('ctx'), createMatcher([], undefined), undefined, [], { retain: false });
  once.walk('src');
  const n = once.listed;
  once.walk('src');
  assert.is(once.listed, 2 * n);
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
