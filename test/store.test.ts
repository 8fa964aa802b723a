import * as assert from 'uvu/assert';
import { chmodSync, readdirSync, statSync, utimesSync, writeFileSync, readFileSync, rmSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { suite, Rig } from './util/rig.js';
import { createStore, defaultStoreRoot } from '../cache/store.js';
import { fsCallCount, setStoreFault } from '../cache/fs.js';
import { sha256, xxh64 } from '../cache/hash.js';
import { decodeLayer } from '../cache/layer-manifest.js';
import { asBlobDigest, asChainDigest, asLayerDigest, asStepKey, type BlobDigest, type LayerDigest } from '../cache/digest.js';
import type { LayerEntry } from '../cache/layer-types.js';
import { StoreError, type ImageRecord, type KeyRecord, type LocalStore } from '../cache/store-types.js';
import { imageFileStem, normalizeImageName } from '../cache/image-name.js';

interface Ctx extends Record<string, unknown> {
  rig: Rig;
  store: LocalStore;
}

const t = suite<Ctx>('store');
t.beforeEach((ctx) => {
  ctx.rig = new Rig('stratum-store-');
  ctx.store = createStore(ctx.rig.path('store'));
});
t.afterEach((ctx) => ctx.rig.cleanup());

const KEY1 = asStepKey('00000000000000000000000000000000000000000000000000000000000000a1');
const CHAIN = asChainDigest('00000000000000000000000000000000000000000000000000000000000000c1');

function keyRecord(layer: LayerDigest | null, key = KEY1): KeyRecord {
  return { key, layer, chain: CHAIN, record: { v: 1, instruction: 'RUN make' }, created: 1_700_000_000_000, durationMs: 1234 };
}

function fileEntry(path: string, b: { digest: BlobDigest; size: number }): LayerEntry {
  return { path, type: 'file', mode: 0o644, size: b.size, digest: b.digest };
}

/** A layer with two files and a key for it. */
function buildEntry(store: LocalStore) {
  const a = store.writeBlob(Buffer.from('alpha'));
  const b = store.writeBlob(Buffer.from('beta'));
  const layer = store.putLayer([
    fileEntry('app/b.txt', b),
    fileEntry('app/a.txt', a),
    { path: 'app', type: 'dir', mode: 0o755 },
    { path: 'app/link', type: 'symlink', mode: 0o777, target: 'a.txt' },
    { path: 'old', type: 'whiteout' },
  ]);
  store.putKey(keyRecord(layer.digest));
  return { a, b, layer };
}

function expectStoreError(fn: () => unknown, code: StoreError['code']): StoreError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, StoreError);
    assert.is((err as StoreError).code, code, (err as Error).message);
    return err as StoreError;
  }
  assert.unreachable(`expected StoreError ${code}`);
  throw new Error('unreachable');
}

const tmpFiles = (store: LocalStore) => (existsSync(join(store.root, 'tmp')) ? readdirSync(join(store.root, 'tmp')) : []);

t.test('writes a blob once and dedupes a second write', ({ rig, store }) => {
  const data = Buffer.from('hello, store');
  const first = store.writeBlob(data);
  assert.equal(first, { digest: sha256(data), size: data.length });
  const path = store.blobPath(first.digest);
  assert.ok(path.endsWith(join('blobs-v2', first.digest.slice(0, 2), first.digest)), path);
  assert.is(statSync(path).mode & 0o777, 0o444, 'blobs are read-only');

  setStoreFault(undefined); // restarts the call count
  assert.equal(store.writeBlob(data), first);
  assert.is(fsCallCount(), 0, 'a second write of a known digest does no I/O');

  // From a file, with and without the fingerprint; and from a second store object.
  rig.write({ 'src.txt': data });
  assert.equal(store.writeBlobFromFile(rig.path('src.txt')), first);
  const other = createStore(store.root);
  setStoreFault(undefined);
  assert.equal(other.writeBlobFromFile(rig.path('src.txt'), first), first);
  assert.is(fsCallCount(), 1, 'with `expect` and the blob present: one stat, no read');
  assert.equal(other.writeBlob(data), first);
  assert.equal(readdirSync(join(store.root, 'blobs-v2', first.digest.slice(0, 2))), [first.digest]);
  assert.equal(tmpFiles(store), []);
  assert.ok(store.hasBlob(first.digest));
  assert.equal(store.readBlob(first.digest, first.size), data);
});

t.test('stores large files streamed in chunks under the digest of their bytes', ({ rig, store }) => {
  const big = Buffer.alloc(300_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  rig.write({ big });
  const w = store.writeBlobFromFile(rig.path('big'));
  assert.equal(w, { digest: sha256(big), size: big.length });
  assert.equal(store.readBlob(w.digest), big);
  assert.equal(store.writeBlobFromFile(rig.path('big')), w, 'a second copy finds the blob present');
  assert.equal(tmpFiles(store), []);
});

t.test('rejects a blob whose bytes changed since fingerprinting (ECHANGED) and leaves no temp file', ({ rig, store }) => {
  for (const size of [10, 200_000]) {
    const before = Buffer.alloc(size, 1);
    const after = Buffer.alloc(size, 2);
    rig.write({ f: after });
    const expect = { digest: asBlobDigest(sha256(before)), size };
    const err = expectStoreError(() => store.writeBlobFromFile(rig.path('f'), expect), 'ECHANGED');
    assert.equal(err.facts.found, { digest: sha256(after), size });
    assert.ok(err.message.includes(rig.path('f')), 'the message names the file');
    assert.not.ok(store.hasBlob(asBlobDigest(sha256(after))), 'the new bytes are not stored');
    assert.not.ok(store.hasBlob(expect.digest));
    assert.equal(tmpFiles(store), []);
  }
  // A size change with the same prefix, and a deleted file, are changes too.
  rig.write({ g: 'abc' });
  expectStoreError(() => store.writeBlobFromFile(rig.path('g'), { digest: asBlobDigest(sha256('abcd')), size: 4 }), 'ECHANGED');
  expectStoreError(() => store.writeBlobFromFile(rig.path('gone'), { digest: asBlobDigest(sha256('x')), size: 1 }), 'ECHANGED');
  assert.equal(tmpFiles(store), []);
});

t.test('adoptBlobFile links a file the process wrote and hashed into the store, without copying it', ({ rig, store }) => {
  const data = Buffer.alloc(300_000, 7);
  rig.write({ 'spool/own': data });
  const known = { digest: asBlobDigest(sha256(data)), size: data.length };
  assert.equal(store.adoptBlobFile(rig.path('spool/own'), known), known);
  const path = store.blobPath(known.digest);
  assert.is(statSync(path).ino, statSync(rig.path('spool/own')).ino, 'one inode: linked, not copied');
  assert.is(statSync(path).mode & 0o777, 0o444);
  rmSync(rig.path('spool/own'));
  assert.equal(store.readBlob(known.digest, known.size), data, 'the blob outlives the caller\'s name for it');
  // A second adopt of a present blob does nothing; a file of the wrong size is refused.
  rig.write({ 'spool/again': data, 'spool/short': data.subarray(1) });
  store.adoptBlobFile(rig.path('spool/again'), known);
  assert.is.not(statSync(rig.path('spool/again')).ino, statSync(path).ino);
  const other = { digest: asBlobDigest(sha256('other')), size: data.length };
  expectStoreError(() => store.adoptBlobFile(rig.path('spool/short'), other), 'ECHANGED');
  assert.not.ok(store.hasBlob(other.digest));
  assert.equal(tmpFiles(store), []);
});

t.test('adoptBlobFile across file systems copies and hashes, so wrong bytes are refused (ECHANGED)', ({ store }) => {
  if (statSync('/dev/shm').dev === statSync(store.root.replace(/\/store$/, '')).dev) return; // needs a second file system
  const dir = join('/dev/shm', `stratum-adopt-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    const data = Buffer.alloc(200_000, 3);
    writeFileSync(join(dir, 'ok'), data);
    const known = { digest: asBlobDigest(sha256(data)), size: data.length };
    store.adoptBlobFile(join(dir, 'ok'), known);
    assert.is.not(statSync(store.blobPath(known.digest)).ino, statSync(join(dir, 'ok')).ino, 'copied');
    assert.equal(store.readBlob(known.digest), data);
    writeFileSync(join(dir, 'bad'), Buffer.alloc(200_000, 4));
    const claimed = { digest: asBlobDigest(sha256(Buffer.alloc(200_000, 5))), size: 200_000 };
    expectStoreError(() => store.adoptBlobFile(join(dir, 'bad'), claimed), 'ECHANGED');
    assert.not.ok(store.hasBlob(claimed.digest));
    assert.equal(tmpFiles(store), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t.test('readBlob rejects and deletes a corrupt blob', ({ store }) => {
  const w = store.writeBlob(Buffer.from('precious bytes'));
  const path = store.blobPath(w.digest);
  chmodSync(path, 0o644);
  writeFileSync(path, 'precious bytez');
  const err = expectStoreError(() => store.readBlob(w.digest), 'EINTEGRITY');
  assert.is(err.facts.expected, w.digest);
  assert.is(err.facts.found, sha256('precious bytez'));
  assert.is(err.facts.path, path);
  assert.not.ok(existsSync(path), 'the bad blob is deleted so it is rebuilt');
  assert.is(store.readBlob(w.digest), undefined, 'then it is simply absent');
  assert.not.ok(store.hasBlob(w.digest));
  // A rewrite heals it; a wrong expected size is an integrity error too.
  store.writeBlob(Buffer.from('precious bytes'));
  expectStoreError(() => store.readBlob(w.digest, w.size + 1), 'EINTEGRITY');
});

t.test('putLayer sorts entries, names the layer by their digest and refuses missing blobs', ({ store }) => {
  const { layer, a } = buildEntry(store);
  assert.equal(
    layer.entries.map((e) => e.path),
    ['app', 'app/a.txt', 'app/b.txt', 'app/link', 'old'],
  );
  assert.is(layer.size, 9);
  const again = createStore(store.root).getLayer(layer.digest);
  assert.equal(again, layer, 'a fresh store reads the same layer back');
  const err = expectStoreError(
    () => store.putLayer([fileEntry('x', { digest: asBlobDigest('0000000000000000000000000000000000000000000000000123456789abcdef'), size: 3 }), fileEntry('y', a)]),
    'EMISSING',
  );
  assert.is(err.facts.count, 1);
  expectStoreError(() => store.putLayer([fileEntry('x', { digest: a.digest, size: a.size + 1 })]), 'EMISSING');
  expectStoreError(() => store.putLayer([{ path: '/abs', type: 'dir', mode: 0o755 }]), 'EINVALID');
  expectStoreError(() => store.putLayer([fileEntry('x', a), fileEntry('x', a)]), 'EINVALID');
});

t.test('a v2 layer (owners, xattrs, hardlinks, devices, fifos) round trips through its manifest, and verify keeps it', ({ store }) => {
  const a = store.writeBlob(Buffer.from('perl'));
  const entries: LayerEntry[] = [
    { path: 'dev', type: 'dir', mode: 0o755 },
    { path: 'dev/null', type: 'char', mode: 0o666, major: 1, minor: 3 },
    { path: 'dev/sda', type: 'block', mode: 0o660, major: 8, minor: 0, gid: 6 },
    { path: 'home/app', type: 'dir', mode: 0o750, uid: 1000, gid: 1000 },
    { path: 'run/ctl', type: 'fifo', mode: 0o600 },
    { path: 'usr/bin/perl', type: 'file', mode: 0o755, size: a.size, digest: a.digest, uid: 1000, gid: 1000, xattrs: { 'security.capability': 'AQAAAgAgAAAAAAAAAAAAAAAAAAA=' } },
    { path: 'usr/bin/perl5', type: 'hardlink', target: 'usr/bin/perl' },
  ];
  const layer = store.putLayer(entries);
  assert.is(layer.size, a.size, 'a hardlink adds no bytes');
  const fresh = createStore(store.root).getLayer(layer.digest);
  assert.equal(fresh?.entries, layer.entries);
  assert.equal(fresh?.entries.find((e) => e.path === 'usr/bin/perl'), entries[5]);
  // Owners and xattrs are part of the digest; uid 0 written out is the same as omitted.
  const other = store.putLayer(entries.map((e) => (e.path === 'home/app' ? { ...e, uid: 1001 } : e)));
  assert.is.not(other.digest, layer.digest);
  const explicitRoot = store.putLayer(entries.map((e) => (e.path === 'run/ctl' ? { ...e, uid: 0, gid: 0 } : e)));
  assert.is(explicitRoot.digest, layer.digest);
  expectStoreError(() => store.putLayer([{ path: 'x', type: 'hardlink', target: 'y' }]), 'EINVALID');
  const v = store.verify();
  assert.is(v.badLayers, 0);
  assert.ok(createStore(store.root).getLayer(layer.digest));
});

t.test('a corrupt layer manifest is a miss', ({ store }) => {
  const { layer } = buildEntry(store);
  const path = join(store.root, 'layers-v2', layer.digest.slice(0, 2), `${layer.digest}.json`);
  const good = readFileSync(path, 'utf8');
  // Valid JSON that lies: a mode changed by hand. Then a torn file.
  for (const bad of [good.replace('"mode":420', '"mode":511'), good.slice(0, good.length / 2)]) {
    assert.is.not(bad, good);
    writeFileSync(path, bad);
    const fresh = createStore(store.root);
    assert.is(fresh.getLayer(layer.digest), undefined);
    assert.not.ok(existsSync(path), 'the corrupt manifest is deleted');
    assert.is(fresh.getKey(KEY1), undefined, 'a key of a corrupt layer is a miss');
    writeFileSync(path, good);
    assert.ok(createStore(store.root).getKey(KEY1));
  }
  // A manifest copied under another layer's name does not hash to that name.
  const other = store.putLayer([{ path: 'z', type: 'dir', mode: 0o700 }]);
  const otherPath = join(store.root, 'layers-v2', other.digest.slice(0, 2), `${other.digest}.json`);
  writeFileSync(otherPath, good);
  assert.is(createStore(store.root).getLayer(other.digest), undefined);
});

t.test('a manifest is read by its check when its entries match it, fully verified otherwise, and always by cache verify', ({ store }) => {
  const { layer } = buildEntry(store);
  const path = join(store.root, 'layers-v2', layer.digest.slice(0, 2), `${layer.digest}.json`);
  const good = readFileSync(path, 'utf8');
  const doc = JSON.parse(good) as { check: string; entries: LayerEntry[] };
  assert.is(doc.check, xxh64(JSON.stringify(doc.entries)), 'the check is the entries\' xxh64');
  // The checked read gives what the full one gives.
  assert.equal(decodeLayer(good, layer.digest), decodeLayer(good, layer.digest, { full: true }));
  assert.equal(createStore(store.root).getLayer(layer.digest)?.entries, layer.entries);
  // A manifest written before the check existed: the full path reads it.
  const old = JSON.stringify({ schema: (JSON.parse(good) as { schema: string }).schema, digest: layer.digest, size: layer.size, entries: doc.entries });
  writeFileSync(path, old);
  assert.equal(createStore(store.root).getLayer(layer.digest)?.entries, layer.entries);
  // A size in the header is not trusted: it is counted from the entries.
  writeFileSync(path, good.replace(`"size":${layer.size}`, `"size":${layer.size + 7}`));
  assert.is(createStore(store.root).getLayer(layer.digest)?.size, layer.size);
  // Entries edited with their check recomputed pass the check (the store trusts its own
  // files at rest, as it trusts its blobs' names), but not cache verify, which re-hashes.
  const edited = doc.entries.map((e) => (e.type === 'file' ? { ...e, mode: 0o777 } : e));
  const forged = good.replace(JSON.stringify(doc.entries), JSON.stringify(edited)).replace(doc.check, xxh64(JSON.stringify(edited)));
  writeFileSync(path, forged);
  assert.ok(decodeLayer(forged, layer.digest));
  assert.is(decodeLayer(forged, layer.digest, { full: true }), undefined);
  assert.is(createStore(store.root).verify().badLayers, 1);
  assert.not.ok(existsSync(path));
});

t.test('putKey refuses a key whose layer is missing', ({ store }) => {
  const missing = asLayerDigest('00000000000000000000000000000000000000000000000000000000deadbeef');
  const err = expectStoreError(() => store.putKey(keyRecord(missing)), 'EMISSING');
  assert.is(err.facts.layer, missing);
  assert.is(store.getKey(KEY1), undefined);
  assert.not.ok(existsSync(join(store.root, 'keys-v2', KEY1.slice(0, 2), `${KEY1}.json`)), 'nothing was written');
  // A key with no layer (a step without filesystem change) needs nothing.
  store.putKey(keyRecord(null));
  assert.equal(createStore(store.root).getKey(KEY1), keyRecord(null));
});

t.test('getKey returns the record written, from memory and from disk', ({ store }) => {
  const { layer } = buildEntry(store);
  assert.equal(store.getKey(KEY1), keyRecord(layer.digest));
  assert.equal(createStore(store.root).getKey(KEY1), keyRecord(layer.digest));
  assert.is(store.getKey(asStepKey('00000000000000000000000000000000000000000000000000000000000000ff')), undefined);
  const path = join(store.root, 'keys-v2', KEY1.slice(0, 2), `${KEY1}.json`);
  writeFileSync(path, '{"key":');
  assert.is(createStore(store.root).getKey(KEY1), undefined, 'a corrupt key is a miss');
  assert.not.ok(existsSync(path));
});

t.test('getKey is undefined when a blob of its layer was deleted', ({ store }) => {
  const { a, layer } = buildEntry(store);
  assert.ok(store.getKey(KEY1));
  rmSync(store.blobPath(a.digest), { force: true });
  assert.is(createStore(store.root).getKey(KEY1), undefined, 'a store that has not seen the blob checks it');
  // The next build (a new store object: this one still believes what it wrote) rewrites it.
  createStore(store.root).writeBlob(Buffer.from('alpha'));
  assert.ok(createStore(store.root).getKey(KEY1), 'the key was kept: rewriting the blob heals it');

  // Deletions by another store object (here verify, after corruption) reach this one's
  // caches through the epoch file.
  assert.ok(store.getKey(KEY1));
  chmodSync(store.blobPath(a.digest), 0o644);
  writeFileSync(store.blobPath(a.digest), 'alphx');
  const report = createStore(store.root).verify();
  assert.is(report.badBlobs, 1);
  assert.is(store.getKey(KEY1), undefined);
  assert.is(store.getLayer(layer.digest), undefined, 'verify removed the layer that lost a blob');
});

t.test('trustListedBlobs takes the blobs a fresh listing names as present, and leaves one deleted by hand to the writers', ({ store, rig }) => {
  const { a, b, layer } = buildEntry(store);
  rig.write({ 'src.txt': 'alpha' });
  // A new process (store object): without the trust, each write with `expect` stats its blob.
  const fresh = createStore(store.root);
  assert.is(fresh.layerOfKey(KEY1), layer.digest);
  assert.is(fresh.trustListedBlobs([a, b]), 2);
  setStoreFault(undefined);
  assert.equal(fresh.writeBlobFromFile(rig.path('src.txt'), a), a);
  assert.equal(fresh.writeBlobFromFile(rig.path('src.txt'), b), b, 'trusted: not even read, so its bytes are not compared');
  assert.is(fsCallCount(), 0, 'trusted blobs cost no I/O');

  rmSync(store.blobPath(b.digest), { force: true });
  const other = createStore(store.root);
  assert.is(other.trustListedBlobs([a, b]), 1, 'a blob deleted by hand is missing from the listing');
  assert.not.ok(other.hasBlob(b.digest));
  setStoreFault(undefined);
  assert.equal(other.writeBlobFromFile(rig.path('src.txt'), a), a);
  assert.is(fsCallCount(), 0, 'the listed one costs no I/O');
  assert.throws(() => other.putLayer(layer.entries), /not in the store/, 'the layer still needs the deleted one');

  // A listing made before another store object deleted a blob is not reused.
  const early = createStore(store.root);
  early.writeBlob(Buffer.from('beta'));
  assert.is(early.trustListedBlobs([a, b]), 2);
  const gone = createStore(store.root);
  rmSync(store.blobPath(a.digest), { force: true });
  gone.verify();
  assert.is(early.trustListedBlobs([a]), 0, 'a deletion elsewhere (the epoch) drops what was trusted, and the folder is listed afresh');
  assert.is(createStore(store.root).layerOfKey(asStepKey('00000000000000000000000000000000000000000000000000000000000000ff')), undefined, 'an unknown key');
});

t.test('a bulk write stats no absent blob after the first 64, and a blob stored by another store object meanwhile stays correct', ({ rig, store }) => {
  const n = 600;
  const files: Record<string, string> = {};
  for (let i = 0; i < n; i++) files[`src/f${i}.txt`] = `file ${i}\n`;
  rig.write(files);
  const fps = Object.entries(files).map(([rel, text]) => ({ path: rig.path(rel), digest: asBlobDigest(sha256(text)), size: Buffer.byteLength(text) }));
  // Another writer stores one of them after this store object has listed its folders.
  const late = fps[n - 1]!;
  setStoreFault(undefined);
  for (const f of fps.slice(0, n - 1)) assert.equal(store.writeBlobFromFile(f.path, { digest: f.digest, size: f.size }), { digest: f.digest, size: f.size });
  // Per new blob: open, read, close of the source; open, write, close, rename of the temp.
  // Beyond that only 64 stats, one readdir of blobs-v2, one of each folder the first 64 writes
  // made, and mkdirs of tmp/ and the fan-out folders. Two stats per blob before (9 per blob).
  assert.ok(fsCallCount() <= 7 * (n - 1) + 64 + 1 + 64 + 257, `fs calls: ${fsCallCount()}`);
  createStore(store.root).writeBlobFromFile(late.path, { digest: late.digest, size: late.size });
  assert.equal(store.writeBlobFromFile(late.path, { digest: late.digest, size: late.size }), { digest: late.digest, size: late.size });
  assert.is(readFileSync(store.blobPath(late.digest), 'utf8'), files[`src/f${n - 1}.txt`]);
  assert.equal(tmpFiles(store), [], 'no temp file left');
  assert.equal(store.verify().badBlobs, 0);
});

t.test('verify removes corrupt entries and stale temp files', ({ store }) => {
  const { a, b, layer } = buildEntry(store);
  const k2 = asStepKey('00000000000000000000000000000000000000000000000000000000000000a2');
  const k3 = asStepKey('00000000000000000000000000000000000000000000000000000000000000a3');
  const solo = store.writeBlob(Buffer.from('solo'));
  const l2 = store.putLayer([fileEntry('solo', solo)]);
  store.putKey(keyRecord(l2.digest, k2));
  store.putKey(keyRecord(null, k3));
  // Corrupt: one blob of `layer`, a stray file among blobs, a torn key.
  chmodSync(store.blobPath(a.digest), 0o644);
  writeFileSync(store.blobPath(a.digest), 'ALPHA');
  writeFileSync(join(store.root, 'blobs-v2', b.digest.slice(0, 2), 'not-a-digest'), 'x');
  writeFileSync(join(store.root, 'keys-v2', k3.slice(0, 2), `${k3}.json`), '{"key":"00');
  // Temp files: one of a dead writer, one old, one live (ours, fresh).
  const tmp = join(store.root, 'tmp');
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, '999999999-aaaaaaaaaaaa'), 'dead writer');
  writeFileSync(join(tmp, `${process.pid}-bbbbbbbbbbbb`), 'old');
  utimesSync(join(tmp, `${process.pid}-bbbbbbbbbbbb`), new Date(0), new Date(0));
  writeFileSync(join(tmp, `${process.pid}-cccccccccccc`), 'in flight');

  const report = store.verify();
  assert.equal(
    report.steps.map((s) => s.name),
    ['remove stale temp files', 'check blobs', 'check layers', 'check keys', 'publish removals'],
  );
  assert.ok(report.steps.every((s) => s.ms >= 0));
  assert.equal(
    { ...report, steps: [] },
    { steps: [], checkedBlobs: 4, badBlobs: 2, checkedLayers: 2, badLayers: 1, checkedKeys: 3, badKeys: 2, removedTemp: 2 },
  );
  assert.equal(readdirSync(tmp), [`${process.pid}-cccccccccccc`]);
  assert.is(store.getLayer(layer.digest), undefined);
  assert.is(store.getKey(KEY1), undefined);
  assert.is(store.getKey(k3), undefined);
  assert.equal(store.getKey(k2), keyRecord(l2.digest, k2), 'what was sound is kept');
  assert.equal(store.readBlob(b.digest), Buffer.from('beta'));
  const again = store.verify();
  assert.is(again.badBlobs + again.badLayers + again.badKeys + again.removedTemp, 0, 'a second run finds nothing');
});

t.test('images round trip under safe file names', ({ store }) => {
  const { layer } = buildEntry(store);
  const image = (name: string): ImageRecord => ({
    name,
    layers: [layer.digest],
    chain: CHAIN,
    config: { Env: ['PATH=/usr/bin'], Cmd: ['node', 'server.js'], Labels: { team: 'web' } },
    history: [{ created: '2026-01-01T00:00:00Z', created_by: 'COPY . /app', layer: layer.digest, size: layer.size }],
    created: '2026-01-01T00:00:00Z',
  });
  const names = ['webapp:dev', 'registry.example/x/y:1.0', 'localhost:5000/team/app:V2', 'webapp:Dev', `x@sha256:${'a'.repeat(64)}`];
  for (const n of names) store.putImage(image(n));
  store.putImage(image('webapp'));
  for (const n of names) assert.equal(store.getImage(n), image(n), n);
  assert.equal(store.getImage('webapp:latest'), image('webapp:latest'), 'a name without tag means :latest');
  assert.equal(store.getImage('webapp'), image('webapp:latest'));
  assert.equal(
    store.listImages().map((i) => i.name),
    ['localhost:5000/team/app:V2', 'registry.example/x/y:1.0', 'webapp:Dev', 'webapp:dev', 'webapp:latest', `x@sha256:${'a'.repeat(64)}`],
  );
  for (const f of readdirSync(join(store.root, 'images-v2'))) assert.match(f, /^[a-z0-9._%~-]+\.json$/);
  assert.is(store.getImage('nothing:here'), undefined);
  assert.ok(store.removeImage('webapp:dev'));
  assert.not.ok(store.removeImage('webapp:dev'));
  assert.is(store.getImage('webapp:dev'), undefined);
  assert.ok(store.getImage('webapp:Dev'), 'tags differing in case are different images');

  for (const bad of ['Webapp:dev', 'a//b', '-x', 'x:', 'x:-tag', '', 'x y', 'a/../b', `x:${'t'.repeat(129)}`]) {
    expectStoreError(() => store.putImage(image(bad)), 'EINVALID');
    expectStoreError(() => store.getImage(bad), 'EINVALID');
  }
  expectStoreError(() => store.putImage({ ...image('ghost:1'), layers: [asLayerDigest('00000000000000000000000000000000000000000000000000000000deadbeef')] }), 'EMISSING');
});

t.test('image names encode injectively into short file names', () => {
  assert.is(normalizeImageName('a/b'), 'a/b:latest');
  assert.is(imageFileStem('a/b:latest'), 'a%2fb%3alatest');
  assert.is.not(imageFileStem('x:V1'), imageFileStem('x:v1'));
  const long = `${'a'.repeat(200)}:${'b'.repeat(50)}`;
  const stem = imageFileStem(normalizeImageName(long));
  assert.ok(stem.length <= 200, String(stem.length));
  assert.is.not(stem, imageFileStem(`${'a'.repeat(200)}:${'b'.repeat(49)}c`));
});

t.test('documents round trip, and a corrupt or absent one is undefined', ({ store }) => {
  assert.is(store.readDoc('contexts', '/src/app'), undefined);
  store.writeDoc('contexts', '/src/app', { v: 1, rows: [['a', 1]] });
  store.writeDoc('contexts', '/src/other', { v: 2 });
  assert.equal(store.readDoc('contexts', '/src/app'), { v: 1, rows: [['a', 1]] });
  assert.equal(createStore(store.root).readDoc('contexts', '/src/other'), { v: 2 });
  const dir = join(store.root, 'docs-v2', 'contexts');
  const file = join(dir, `${xxh64('/src/app')}.json`);
  assert.ok(existsSync(file));
  writeFileSync(file, '{"name":"/src/app","value":{');
  assert.is(store.readDoc('contexts', '/src/app'), undefined);
  expectStoreError(() => store.writeDoc('../escape', 'x', 1), 'EINVALID');
  assert.equal(tmpFiles(store), []);

  const d = store.dir('workspaces', '/src/app#build');
  assert.is(d, join(store.root, 'dirs', 'workspaces', xxh64('/src/app#build')));
  assert.ok(statSync(d).isDirectory());
  assert.is(store.dir('workspaces', '/src/app#build'), d);
});

t.test('size counts blobs, manifests and keys', ({ store }) => {
  assert.is(store.size(), 0);
  buildEntry(store);
  const files = ['blobs-v2', 'layers-v2', 'keys-v2'].flatMap((kind) => {
    const base = join(store.root, kind);
    return readdirSync(base).flatMap((fan) => readdirSync(join(base, fan)).map((f) => join(base, fan, f)));
  });
  assert.is(files.length, 4);
  assert.is(store.size(), files.reduce((n, f) => n + statSync(f).size, 0));
});

t.test('size stays exact when it reuses the totals of unchanged folders', ({ store }) => {
  const { layer } = buildEntry(store);
  const old = new Date(Date.now() - 3_600_000);
  for (const kind of ['blobs-v2', 'layers-v2', 'keys-v2']) {
    for (const fan of readdirSync(join(store.root, kind))) utimesSync(join(store.root, kind, fan), old, old);
  }
  const first = store.size();
  setStoreFault(undefined);
  assert.is(store.size(), first);
  assert.ok(fsCallCount() <= 3 + 4, `a warm size() stats folders only (${fsCallCount()} calls)`);
  const k2 = asStepKey('00000000000000000000000000000000000000000000000000000000000000a2'); // same fan-out folder as KEY1
  store.putKey(keyRecord(layer.digest, k2));
  const keyFile = join(store.root, 'keys-v2', '00', `${k2}.json`);
  assert.is(store.size(), first + statSync(keyFile).size);
  assert.is(createStore(store.root).size(), store.size());
});

t.test('defaultStoreRoot: STRATUM_CACHE_DIR, then XDG_CACHE_HOME, then ~/.cache', () => {
  assert.is(defaultStoreRoot({ STRATUM_CACHE_DIR: '/c/s', XDG_CACHE_HOME: '/x', HOME: '/h' }), '/c/s');
  assert.is(defaultStoreRoot({ XDG_CACHE_HOME: '/x', HOME: '/h' }), '/x/stratum');
  assert.is(defaultStoreRoot({ STRATUM_CACHE_DIR: '', XDG_CACHE_HOME: '/x', HOME: '/h' }), '/x/stratum', 'empty means unset');
  assert.is(defaultStoreRoot({ XDG_CACHE_HOME: 'relative', HOME: '/h' }), '/h/.cache/stratum', 'XDG paths must be absolute');
  assert.is(defaultStoreRoot({ HOME: '/h' }), '/h/.cache/stratum');
  assert.is(defaultStoreRoot({ STRATUM_CACHE_DIR: 'rel' }), join(process.cwd(), 'rel'));
});

t.test('an injected fault surfaces as a StoreError with the facts', ({ store }) => {
  setStoreFault({ action: 'throw', at: 1 });
  try {
    const err = expectStoreError(() => store.writeBlob(Buffer.from('zzz')), 'EIO');
    assert.is(err.facts.injected, true);
  } finally {
    setStoreFault(undefined);
  }
  assert.ok(store.writeBlob(Buffer.from('zzz')));
});

t.run();
