import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite, Rig } from './util/rig.js';
import { createStore } from '../cache/store.js';
import { asChainDigest, asStepKey, type LayerDigest, type StepKey } from '../cache/digest.js';
import type { Layer } from '../cache/layer-types.js';
import type { LocalStore } from '../cache/store-types.js';

interface Ctx extends Record<string, unknown> {
  rig: Rig;
  store: LocalStore;
}
const t = suite<Ctx>('store prune');
t.beforeEach((ctx) => {
  ctx.rig = new Rig('stratum-prune-');
  ctx.store = createStore(ctx.rig.path('store'));
});
t.afterEach((ctx) => ctx.rig.cleanup());

const HOUR = 3_600_000;
const BLOB = 10_000;

/** Key i → a layer holding one 10 kB blob of its own; last used `ageMs` ago. */
function entry(store: LocalStore, i: number, ageMs: number): { key: StepKey; layer: Layer } {
  const blob = store.writeBlob(Buffer.alloc(BLOB, i));
  const layer = store.putLayer([{ path: `f${i}`, type: 'file', mode: 0o644, size: blob.size, digest: blob.digest }]);
  const key = asStepKey(`${'0'.repeat(62)}${i.toString(16).padStart(2, '0')}`);
  store.putKey({ key, layer: layer.digest, chain: asChainDigest('00000000000000000000000000000000000000000000000000000000000000c0'), record: { i }, created: 0, durationMs: 10 });
  const when = new Date(Date.now() - ageMs);
  utimesSync(join(store.root, 'keys-v2', key.slice(0, 2), `${key}.json`), when, when);
  return { key, layer };
}

const layerFile = (store: LocalStore, d: LayerDigest) => join(store.root, 'layers-v2', d.slice(0, 2), `${d}.json`);

t.test('prune --keep-storage keeps the most recently used and never an image\'s layers', ({ store }) => {
  const e = [1, 2, 3, 4].map((i) => entry(store, i, (5 - i) * HOUR)); // e[0] oldest … e[3] newest
  store.putImage({
    name: 'webapp:dev',
    layers: [e[0]!.layer.digest],
    chain: asChainDigest('00000000000000000000000000000000000000000000000000000000000000c1'),
    config: {},
    history: [],
    created: '2026-01-01T00:00:00Z',
  });
  // A later build uses key 2 again: now it is the most recently used.
  assert.ok(createStore(store.root).getKey(e[1]!.key));

  const before = store.size();
  const keepStorage = 2 * BLOB + 2_000; // room for two layers and a few small files
  const report = store.prune({ keepStorage, roots: new Set(), graceMs: 0 });
  assert.equal(
    report.steps.map((s) => s.name),
    ['list old layout folders', 'remove old layout folders', 'read leases', 'read images', 'read keys', 'read layers', 'read blobs', 'read documents', 'mark', 'expire', 'evict least recently used', 'release documents', 'plan directories', 'read leases again', 'sweep keys', 'sweep layers', 'sweep blobs', 'sweep documents', 'sweep directories'],
  );
  assert.is(report.sizeBefore, before);
  assert.is(report.sizeAfter, store.size());
  assert.ok(report.sizeAfter <= keepStorage, `${report.sizeAfter} > ${keepStorage}`);
  assert.is(report.freedBytes, before - report.sizeAfter);
  assert.equal([report.removedKeys, report.removedLayers, report.removedBlobs], [3, 2, 2]);

  const fresh = createStore(store.root);
  assert.ok(fresh.getKey(e[1]!.key), 'the most recently used key survives');
  for (const i of [0, 2, 3]) assert.is(fresh.getKey(e[i]!.key), undefined, `key ${i + 1} evicted`);
  const image = fresh.getImage('webapp:dev')!;
  const kept = fresh.getLayer(image.layers[0]!)!;
  assert.ok(kept, "the image's layer is kept although its key was the oldest");
  assert.equal(fresh.readBlob(kept.entries[0]!.type === 'file' ? kept.entries[0]!.digest : (undefined as never)), Buffer.alloc(BLOB, 1));
  for (const i of [2, 3]) assert.not.ok(existsSync(layerFile(store, e[i]!.layer.digest)));
  // The store object that pruned, and any other, forget what they cached as present.
  assert.is(store.getKey(e[3]!.key), undefined);
  assert.is(fresh.verify().badLayers, 0, 'what is left is consistent');

  // However small the budget, an image's layers stay.
  const all = store.prune({ keepStorage: 0, roots: new Set(), graceMs: 0 });
  assert.equal([all.removedKeys, all.removedLayers, all.removedBlobs], [1, 1, 1]);
  assert.ok(createStore(store.root).getLayer(e[0]!.layer.digest));
});

t.test('prune --filter until removes keys unused for that long, and orphans past the grace period', ({ store }) => {
  const old = entry(store, 1, 48 * HOUR);
  const recent = entry(store, 2, HOUR);
  const rooted = entry(store, 3, 48 * HOUR);
  // An orphan layer and blob, as a crashed or in-flight build leaves them: no key yet.
  const orphanBlob = store.writeBlob(Buffer.from('orphan'));
  const orphan = store.putLayer([{ path: 'o', type: 'file', mode: 0o644, size: orphanBlob.size, digest: orphanBlob.digest }]);

  const report = store.prune({ until: 24 * HOUR, roots: new Set([rooted.layer.digest]) });
  assert.equal([report.removedKeys, report.removedLayers, report.removedBlobs], [2, 1, 1]);
  const fresh = createStore(store.root);
  assert.is(fresh.getKey(old.key), undefined);
  assert.ok(fresh.getKey(recent.key));
  assert.is(fresh.getKey(rooted.key), undefined, 'the key goes…');
  assert.ok(fresh.getLayer(rooted.layer.digest), '…but a root layer stays');
  assert.ok(fresh.getLayer(orphan.digest), 'an orphan younger than the grace period stays (its key may be coming)');

  const later = store.prune({ roots: new Set(), graceMs: 0 });
  assert.equal([later.removedKeys, later.removedLayers, later.removedBlobs], [0, 2, 2], 'orphans past the grace period go');
  assert.not.ok(createStore(store.root).hasBlob(orphanBlob.digest));
  assert.ok(createStore(store.root).getKey(recent.key));
});

t.test('prune removes dangling keys and corrupt files', ({ store }) => {
  const a = entry(store, 1, 0);
  const b = entry(store, 2, 0);
  // Key 2 loses its layer (as after a crash of an older, non-atomic tool, or a hand edit).
  rmSync(layerFile(store, b.layer.digest));
  writeFileSync(join(store.root, 'keys-v2', 'zz'), 'stray');
  const report = store.prune({ roots: new Set(), graceMs: 0 });
  assert.equal([report.removedKeys, report.removedLayers, report.removedBlobs], [2, 0, 1]);
  assert.ok(createStore(store.root).getKey(a.key));
  assert.not.ok(existsSync(join(store.root, 'keys-v2', 'zz')));
  const v = store.verify();
  assert.is(v.badBlobs + v.badLayers + v.badKeys, 0, 'what is left is consistent');
});

t.test('prune removes the folders of the v1 layout and counts their bytes, and nothing of v2', ({ store }) => {
  const a = entry(store, 1, 0);
  for (const kind of ['blobs-v1', 'keys-v1', 'layers-v1', 'images-v1', 'docs-v1', 'complete-v1']) {
    mkdirSync(join(store.root, kind, 'ab'), { recursive: true });
    writeFileSync(join(store.root, kind, 'ab', 'abcdef0123456789'), 'x'.repeat(100));
  }
  writeFileSync(join(store.root, 'notes-v1'), 'not ours: a file with a look-alike name stays');
  const report = store.prune({ roots: new Set(), graceMs: 0 });
  assert.equal(report.removedLegacy, ['blobs-v1', 'complete-v1', 'docs-v1', 'images-v1', 'keys-v1', 'layers-v1']);
  assert.is(report.freedBytes, 600);
  assert.is(report.sizeBefore - report.sizeAfter, 600);
  for (const kind of ['blobs-v1', 'keys-v1', 'layers-v1', 'images-v1', 'docs-v1', 'complete-v1']) assert.not.ok(existsSync(join(store.root, kind)), kind);
  assert.ok(existsSync(join(store.root, 'notes-v1')));
  assert.ok(createStore(store.root).getKey(a.key), 'the v2 entries are untouched');
});

t.test('an imported layer keeps its origin blob as long as the layer, and both go together', ({ store }) => {
  const e = entry(store, 1, 2 * HOUR);
  const gz = store.writeBlob(Buffer.from('pretend gzip bytes'));
  store.putLayerOrigin({ layer: e.layer.digest, diffId: 'd'.repeat(64), tarSize: 2048, compressed: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: gz.digest, size: gz.size } });
  const kept = store.prune({ roots: new Set(), graceMs: 0 });
  assert.equal([kept.removedKeys, kept.removedLayers, kept.removedBlobs], [0, 0, 0], 'the origin blob is referenced by its layer');
  assert.is(createStore(store.root).getLayerOrigin(e.layer.digest)?.compressed.digest, gz.digest);
  const gone = store.prune({ until: HOUR, roots: new Set(), graceMs: 0 });
  assert.equal([gone.removedKeys, gone.removedLayers, gone.removedBlobs], [1, 1, 2], 'key, layer, file blob and origin blob');
  assert.not.ok(existsSync(join(store.root, 'origins-v2', e.layer.digest.slice(0, 2), `${e.layer.digest}.json`)), 'the origin record goes with its layer');
  assert.not.ok(createStore(store.root).hasBlob(gz.digest));
});

t.run();
