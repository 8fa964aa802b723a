/**
 * Step keys in the store. A key is written last, after its layer and every blob the layer
 * names, and read back only when all of those are still there: a key never points at
 * nothing, and a corrupt key is a miss.
 */
import type { LayerDigest, StepKey } from './digest.js';
import { StoreError, type KeyRecord } from './store-types.js';
import { writeFileAtomic } from './atomic-write.js';
import { decodeKey, encodeKey } from './key-file.js';
import { layerComplete } from './layer-store.js';
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

/** The layer `key`'s record names, read without checking that layer or touching the key: a
 *  probe (a COPY's earlier version of its layer, engine/layer-kin.ts), never a hit. */
export function layerOfKey(s: StoreState, key: StepKey): LayerDigest | undefined {
  let rec = s.keys.get(key);
  if (!rec) {
    const text = sfs.readFile(s.layout.key(key));
    rec = text === undefined ? undefined : decodeKey(text.toString('utf8'), key);
  }
  return rec?.layer ?? undefined;
}
