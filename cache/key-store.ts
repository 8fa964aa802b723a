/**
 * Step keys in the store. A key is written last, after its layer and every blob the layer
 * names, and read back only when all of those are still there: a key never points at
 * nothing, and a corrupt key is a miss.
 */
import type { LayerDigest, StepKey } from './digest.js';
import { StoreError, type KeyRecord } from './store-types.js';
import { writeFileAtomic } from './atomic-write.js';
import { decodeKey, encodeKey } from './key-file.js';
import { dirname } from 'node:path';
import { getLayer, layerComplete } from './layer-store.js';
import { touch, type StoreState } from './store-state.js';
import * as sfs from './fs.js';

export function putKey(s: StoreState, record: KeyRecord): void {
  const path = s.layout.key(record.key);
  const text = encodeKey(record);
  // What a reader of the file will get (JSON drops undefined); also the shape check.
  const stored = decodeKey(text, record.key);
  if (!stored) {
    throw new StoreError('EINVALID', `store: key record ${record.key} is malformed (chain, layer, created or durationMs)`, { key: record.key });
  }
  if (record.layer !== null && !layerComplete(s, record.layer)) {
    throw new StoreError(
      'EMISSING',
      `store: key ${record.key} names layer ${record.layer}, which is not (completely) in the store; store the layer first`,
      { key: record.key, layer: record.layer },
    );
  }
  writeFileAtomic(s.dirs, s.layout.tmpDir, path, text);
  s.keys.set(record.key, stored);
  s.touched.set(path, Date.now());
}

export function getKey(s: StoreState, key: StepKey): KeyRecord | undefined {
  const path = s.layout.key(key);
  let rec = s.keys.get(key);
  if (!rec) {
    const text = sfs.readFile(path);
    if (text === undefined) return undefined;
    rec = decodeKey(text.toString('utf8'), key);
    if (!rec) {
      // A key is an index entry only: deleting it cannot break anything else.
      sfs.unlink(path);
      return undefined;
    }
  }
  if (rec.layer !== null && !layerComplete(s, rec.layer)) return undefined;
  s.keys.set(key, rec);
  touch(s, path);
  if (rec.layer !== null) touch(s, s.layout.layer(rec.layer));
  return rec;
}

/**
 * Every blob of `key`'s layer taken as present when a listing of the blob folders shows each
 * of them: a COPY that misses because one file of 10k changed then writes only that file's
 * blob, where it used to stat all 10k (finding 9: 56–78 ms), and putLayer's presence check of
 * the new layer costs no I/O either. One readdir per fan-out folder (at most 256) instead of
 * a stat per blob; names, not sizes, are checked (a blob of the wrong size can only be a
 * corrupt one, which a read finds). A blob deleted by hand is missing from the listing: then
 * nothing is trusted and each blob is checked as before.
 */
export function trustBlobsOfKey(s: StoreState, key: StepKey): LayerDigest | undefined {
  let rec = s.keys.get(key);
  if (!rec) {
    const text = sfs.readFile(s.layout.key(key));
    rec = text === undefined ? undefined : decodeKey(text.toString('utf8'), key);
  }
  if (!rec || rec.layer === null) return undefined;
  const layer = getLayer(s, rec.layer);
  if (!layer) return undefined;
  const listed = new Map<string, Set<string>>();
  const files: { digest: string; size: number }[] = [];
  for (const e of layer.entries) {
    if (e.type !== 'file' || s.present.get(e.digest) === e.size) continue;
    const fan = e.digest.slice(0, 2);
    let names = listed.get(fan);
    if (!names) listed.set(fan, (names = new Set(sfs.readdir(dirname(s.layout.blob(e.digest))))));
    if (!names.has(e.digest)) return undefined;
    files.push(e);
  }
  for (const f of files) s.present.set(f.digest, f.size);
  return layer.digest;
}
