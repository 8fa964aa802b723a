/**
 * Locks, slots, dirty markers and leases (cache/lock-file.ts, owned-dirs.ts, leases.ts) in
 * one process, with real dead and reused pids. The reliability suite drives the same code
 * with real concurrent builds.
 */
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite, Rig } from './util/rig.js';
import { createStore } from '../cache/store.js';
import { tryLock } from '../cache/lock-file.js';
import { ownerAlive, processStart, selfOwner } from '../cache/process-owner.js';
import { asChainDigest, asStepKey } from '../cache/digest.js';
import type { LayerEntry } from '../cache/layer-types.js';
import { Workspace } from '../engine/workspace.js';
import { chainOf, mergeLayers } from '../engine/union-view.js';

const t = suite('store locks and leases');
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig('stratum-locks-');
});
t.afterEach(() => rig.cleanup());

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

t.test('a lock is exclusive until released', () => {
  const p = rig.path('a.lock');
  const a = tryLock(p);
  assert.ok(a);
  assert.is(tryLock(p), undefined, 'held by a live process (this one)');
  a!.release();
  const b = tryLock(p);
  assert.ok(b, 'free again after release');
  b!.release();
  assert.not.ok(existsSync(p));
});

t.test("a dead owner's lock is broken, and a reused pid is not mistaken for the owner", () => {
  const p = rig.path('b.lock');
  const dead = deadPid();
  writeFileSync(p, JSON.stringify({ pid: dead, start: '1', host: selfOwner().host }));
  const a = tryLock(p);
  assert.ok(a, 'the pid is gone: stale');
  a!.release();
  // Our parent's pid is alive, but with another start time it is another process.
  assert.ok(processStart(process.ppid) !== undefined);
  writeFileSync(p, JSON.stringify({ pid: process.ppid, start: 'not-its-start-time', host: selfOwner().host }));
  assert.not.ok(ownerAlive({ pid: process.ppid, start: 'not-its-start-time', host: selfOwner().host }));
  const b = tryLock(p);
  assert.ok(b, 'pid reused by another process: stale');
  b!.release();
  // The real start time is alive.
  writeFileSync(p, JSON.stringify({ pid: process.ppid, start: processStart(process.ppid), host: selfOwner().host }));
  assert.is(tryLock(p), undefined);
  rmSync(p);
});

t.test('a second user of a busy directory gets the next slot; a released slot is reused', () => {
  const store = createStore(rig.path('store'));
  const a = store.acquireDir('workspaces', 'proj', { slots: 4 })!;
  const b = store.acquireDir('workspaces', 'proj', { slots: 4 })!;
  assert.equal([a.slot, b.slot], [0, 1]);
  assert.is(store.acquireDir('workspaces', 'proj', { slots: 1 }), undefined, 'slot 0 is busy and only one is allowed');
  a.release();
  const c = store.acquireDir('workspaces', 'proj', { slots: 4 })!;
  assert.is(c.slot, 0, 'the first free slot');
  const shared = store.acquireDir('cache-mounts', 'm', { mode: 'shared' })!;
  const shared2 = store.acquireDir('cache-mounts', 'm', { mode: 'shared' })!;
  assert.is(shared.path, shared2.path, 'shared users share slot 0');
  b.release();
  c.release();
});

t.test('a workspace found dirty is re-scanned and brought back to its chain', () => {
  const store = createStore(rig.path('store'));
  const entries: LayerEntry[] = [];
  for (let i = 0; i < 10; i++) {
    const b = store.writeBlob(Buffer.from(`f${i}`));
    entries.push({ path: `d/f${i}`, type: 'file', mode: 0o644, size: b.size, digest: b.digest });
  }
  const l = store.putLayer(entries);
  const view = mergeLayers([l.entries]);
  const chain = chainOf([l.digest]);
  const ws = new Workspace(store, 'p');
  ws.sync([l.digest], chain, view);
  ws.release();
  // A crash mid-change: the marker is set, the tree changed, the records not updated.
  const owned = store.acquireDir('workspaces', 'p')!;
  owned.markDirty();
  writeFileSync(join(owned.path, 'root/d/f3'), 'torn');
  rmSync(join(owned.path, 'root/d/f4'));
  writeFileSync(join(owned.path, 'root/stray'), 'from another build');
  owned.release();
  const again = new Workspace(store, 'p');
  const res = again.sync([l.digest], chain, view);
  assert.ok(res.written + res.removed >= 3, 'the same chain is not trusted when dirty');
  assert.is(readFileSync(join(again.root, 'd/f3'), 'utf8'), 'f3');
  assert.ok(existsSync(join(again.root, 'd/f4')));
  assert.not.ok(existsSync(join(again.root, 'stray')));
  again.release();
  assert.not.ok(existsSync(join(store.root, 'dirs/workspaces', readdirSync(join(store.root, 'dirs/workspaces'))[0]!, '0.dirty')), 'marker cleared once known');
});

t.test("prune honours live leases and removes dead owners' leases", () => {
  const store = createStore(rig.path('store'));
  const mk = (i: number) => {
    const b = store.writeBlob(Buffer.alloc(1000, i));
    const layer = store.putLayer([{ path: `f${i}`, type: 'file', mode: 0o644, size: b.size, digest: b.digest }]);
    const key = asStepKey(`${'0'.repeat(62)}a${i}`);
    store.putKey({ key, layer: layer.digest, chain: asChainDigest('0'.repeat(62) + 'c0'), record: {}, created: 0, durationMs: 1 });
    return { key, layer };
  };
  const live = mk(1);
  const other = mk(2);
  const lease = store.openLease('test build');
  lease.add({ keys: [live.key], layers: [live.layer.digest] });
  const dead = join(store.root, 'leases', '1-dead.json');
  writeFileSync(dead, JSON.stringify({ owner: { pid: deadPid(), start: '1', host: selfOwner().host }, created: 0, layers: [other.layer.digest], keys: [other.key] }));
  // Old enough that only the leases could save them.
  const old = new Date(Date.now() - 3_600_000);
  for (const d of ['keys-v2', 'layers-v2', 'blobs-v2']) for (const fan of readdirSync(join(store.root, d))) for (const f of readdirSync(join(store.root, d, fan))) utimesSync(join(store.root, d, fan, f), old, old);
  const r = store.prune({ keepStorage: 0, roots: new Set(), graceMs: 0 });
  assert.is(r.leases, 1);
  assert.is(r.removedLeases, 1);
  assert.not.ok(existsSync(dead));
  const fresh = createStore(store.root);
  assert.ok(fresh.getKey(live.key), 'the leased key survives keep-storage 0');
  assert.is(fresh.getKey(other.key), undefined, "a dead owner's lease protects nothing");
  lease.release();
  const r2 = store.prune({ keepStorage: 0, roots: new Set(), graceMs: 0 });
  assert.is(r2.removedKeys, 1, 'released: prunable');
});

t.test('prune removes documents and workspaces of contexts that are gone, never a locked workspace', () => {
  const store = createStore(rig.path('store'));
  rig.write({ 'ctx-a/x': 'a', 'ctx-b/x': 'b' });
  store.writeDoc('contexts', rig.path('ctx-a'), { v: 1 }, { paths: [rig.path('ctx-a')] });
  store.writeDoc('contexts', rig.path('ctx-b'), { v: 1 }, { paths: [rig.path('ctx-b')] });
  store.writeDoc('unknown-kind', 'x', { v: 1 });
  const wa = store.acquireDir('workspaces', 'a', { about: [rig.path('ctx-a')] })!;
  wa.release();
  const wb = store.acquireDir('workspaces', 'b', { about: [rig.path('ctx-b')] })!; // held
  rmSync(rig.path('ctx-a'), { recursive: true });
  rmSync(rig.path('ctx-b'), { recursive: true });
  const r = store.prune({ roots: new Set() });
  assert.is(r.removedDocs, 2, 'both stat caches');
  assert.is(store.readDoc('unknown-kind', 'x') !== undefined, true, 'a document without meta is kept');
  assert.is(r.removedDirs, 1, 'the released workspace only');
  assert.ok(existsSync(wb.path), 'the locked one stays');
  wb.release();
});

t.test('an imported base keeps its layers while a kept key stands on its chain, and goes with it', () => {
  const store = createStore(rig.path('store'));
  const b = store.writeBlob(Buffer.alloc(500, 7));
  const base = store.putLayer([{ path: 'base.bin', type: 'file', mode: 0o644, size: b.size, digest: b.digest }]);
  const chain = chainOf([base.digest]);
  store.writeDoc('oci-layout-bases', 'v1 sha256:x', { layers: [base.digest] }, { base: { chain }, layers: [base.digest] });
  const key = asStepKey('0'.repeat(62) + 'b1');
  store.putKey({ key, layer: null, chain, record: { parent: chain }, created: 0, durationMs: 1 });
  const old = new Date(Date.now() - 3_600_000);
  for (const d of ['keys-v2', 'layers-v2', 'blobs-v2']) for (const fan of readdirSync(join(store.root, d))) for (const f of readdirSync(join(store.root, d, fan))) utimesSync(join(store.root, d, fan, f), old, old);
  const kept = store.prune({ roots: new Set(), graceMs: 0 });
  assert.equal([kept.removedLayers, kept.removedBlobs, kept.removedDocs], [0, 0, 0], 'a key is built on it');
  assert.ok(store.readDoc('oci-layout-bases', 'v1 sha256:x'));
  const gone = store.prune({ roots: new Set(), graceMs: 0, until: 0 });
  assert.equal([gone.removedKeys, gone.removedLayers, gone.removedBlobs, gone.removedDocs], [1, 1, 1, 1], 'its last key went');
});

t.run();
