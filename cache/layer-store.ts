/**
 * Layer manifests in the store: written after every blob they name, read back verified.
 */
import type { LayerDigest } from './digest.js';
import type { Layer, LayerEntry } from './layer-types.js';
import { layerDigest, layerSize, normalizeEntries } from './layer-digest.js';
import { StoreError } from './store-types.js';
import { writeFileAtomic } from './atomic-write.js';
import { decodeLayer, encodeLayer } from './layer-manifest.js';
import { blobPresent } from './write-blob.js';
import { bumpEpoch, type StoreState } from './store-state.js';
import * as sfs from './fs.js';
import { join } from 'node:path';

/** Sort, validate and store a layer; every blob it names must be present (EMISSING if not). */
export function putLayer(s: StoreState, entries: LayerEntry[]): Layer {
  let sorted: LayerEntry[];
  try {
    sorted = normalizeEntries(entries);
  } catch (err) {
    throw new StoreError('EINVALID', `store: bad layer: ${err instanceof Error ? err.message : String(err)}`);
  }
  const missing = missingBlobs(s, sorted);
  const digest = layerDigest(sorted);
  if (missing.length) {
    throw new StoreError(
      'EMISSING',
      `store: layer ${digest} names ${missing.length} blob(s) not in the store, e.g. ${missing[0]!.path} (${missing[0]!.digest}); store the files first`,
      { layer: digest, missing: missing.slice(0, 10).map((e) => ({ path: e.path, digest: e.digest })), count: missing.length },
    );
  }
  const layer: Layer = { digest, entries: sorted, size: layerSize(sorted) };
  // Rewriting an existing manifest is harmless (same bytes, atomic) and replaces a corrupt one.
  if (!s.layers.has(digest)) writeFileAtomic(s.dirs, s.layout.tmpDir, s.layout.layer(digest), encodeLayer(layer));
  s.layers.set(digest, layer);
  s.complete.set(digest, true);
  return layer;
}

function missingBlobs(s: StoreState, entries: readonly LayerEntry[]): Extract<LayerEntry, { type: 'file' }>[] {
  const out: Extract<LayerEntry, { type: 'file' }>[] = [];
  for (const e of entries) if (e.type === 'file' && !blobPresent(s, e.digest, e.size)) out.push(e);
  return out;
}

/** The verified manifest, or undefined when absent or corrupt (a corrupt one is deleted). */
export function getLayer(s: StoreState, digest: LayerDigest): Layer | undefined {
  const hit = s.layers.get(digest);
  if (hit) return hit;
  const path = s.layout.layer(digest);
  const text = sfs.readFile(path);
  if (text === undefined) return undefined;
  const layer = decodeLayer(text.toString('utf8'), digest);
  if (!layer) {
    sfs.unlink(path);
    bumpEpoch(s);
    return undefined;
  }
  s.layers.set(digest, layer);
  return layer;
}

/**
 * True when the manifest is present and valid and every blob it names is present. The
 * blobs are checked with a stat each; their bytes are verified when read.
 *
 * The answer is remembered across processes in a marker (`complete-v2/<2 hex>/<digest>`)
 * holding the store epoch it was checked at. Every deletion the store
 * makes (verify, prune, an integrity failure) changes the epoch, so a marker never outlives a
 * blob the store removed; a stale one just means one more check. Without it, every cache hit
 * of a new process stat'ed every blob of its layer: 101 ms, 20% of a warm 10k-file build
 * (bench/RESULTS.md, finding 1). A blob deleted by hand is caught when it is read, or by
 * `stratum cache verify`.
 */
export function layerComplete(s: StoreState, digest: LayerDigest): boolean {
  if (s.complete.has(digest)) return true;
  const marker = join(s.layout.completeDir, digest.slice(0, 2), digest);
  const epoch = s.epoch ?? '';
  if (epoch !== '' && sfs.readFile(marker)?.toString('utf8') === epoch) {
    s.complete.set(digest, true);
    return true;
  }
  const layer = getLayer(s, digest);
  if (!layer || !layer.entries.every((e) => e.type !== 'file' || blobPresent(s, e.digest, e.size))) return false;
  s.complete.set(digest, true);
  if (epoch !== '') writeFileAtomic(s.dirs, s.layout.tmpDir, marker, epoch);
  return true;
}
