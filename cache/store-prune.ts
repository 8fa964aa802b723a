/**
 * `stratum cache prune`: mark and sweep, as named, timed steps.
 *
 * Roots are the layers of tagged images plus `opts.roots`; they are never removed. Keys
 * are the cache's own roots: a key keeps its layer, a layer keeps its blobs. Keys go when
 * they are dangling (their layer is gone), unused for longer than `until`, or, oldest
 * last use first, while the store is larger than `keepStorage`. A layer goes when no key
 * and no root holds it, a blob when no kept layer names it.
 *
 * Last use is a key file's mtime, touched by getKey. Layers and blobs that nothing
 * referenced to begin with are kept for `graceMs` after they were written: a build writes
 * blobs, then the layer, then the key, and a prune in between must not take them away.
 *
 * Files are removed keys first, then layers, then blobs, so at every instant each key
 * still names a complete layer. The epoch is rewritten before and after, so other store
 * objects drop what they cached as present.
 */
import { asLayerDigest, asStepKey } from './digest.js';
import type { PruneOptions, PruneReport } from './store-types.js';
import { decodeLayer } from './layer-manifest.js';
import { decodeKey } from './key-file.js';
import { listImages } from './image-store.js';
import { removeLegacyFolders } from './store-legacy.js';
import { originBlob } from './layer-origin.js';
import { walkFanned } from './store-walk.js';
import { step } from './timed-steps.js';
import { bumpEpoch, type StoreState } from './store-state.js';
import * as sfs from './fs.js';

interface Item {
  path: string;
  size: number;
  mtime: number;
  refs: number;
  removed: boolean;
}
interface KeyItem extends Item {
  layer: string | null;
}
interface LayerItem extends Item {
  blobs: string[];
  /** An image's layer or one of opts.roots. */
  root: boolean;
}

export function pruneStore(s: StoreState, opts: PruneOptions): PruneReport {
  const now = Date.now();
  const grace = opts.graceMs ?? 60_000;
  const steps: PruneReport['steps'] = [];
  const L = s.layout;
  /** Corrupt or stray files, by folder: removed whatever else happens. */
  const junk = { keys: [] as Item[], layers: [] as Item[], blobs: [] as Item[] };
  const item = (path: string, size: number, mtime: number): Item => ({ path, size, mtime, refs: 0, removed: false });

  // An older layout's folders (`blobs-v1/`…) are invisible to this store: only space.
  const legacy = step(steps, 'remove old layout folders', () => removeLegacyFolders(L.root));

  const roots = step(steps, 'read images', () => {
    const set = new Set<string>(opts.roots);
    for (const image of listImages(s)) for (const l of image.layers) set.add(l);
    return set;
  });

  const keys = step(steps, 'read keys', () => {
    const out: KeyItem[] = [];
    for (const f of walkFanned(L.keyDir, '.json')) {
      const text = f.digest !== undefined ? sfs.readFile(f.path) : undefined;
      const rec = text && f.digest !== undefined ? decodeKey(text.toString('utf8'), asStepKey(f.digest)) : undefined;
      const it = item(f.path, f.stat.size, f.stat.mtimeMs);
      if (rec) out.push({ ...it, layer: rec.layer });
      else junk.keys.push(it);
    }
    return out;
  });

  const layers = step(steps, 'read layers', () => {
    const out = new Map<string, LayerItem>();
    for (const f of walkFanned(L.layerDir, '.json')) {
      const text = f.digest !== undefined ? sfs.readFile(f.path) : undefined;
      const layer = text && f.digest !== undefined ? decodeLayer(text.toString('utf8'), asLayerDigest(f.digest)) : undefined;
      const it = item(f.path, f.stat.size, f.stat.mtimeMs);
      if (!layer) {
        junk.layers.push(it);
        continue;
      }
      const blobs = [...new Set(layer.entries.flatMap((e) => (e.type === 'file' ? [e.digest as string] : [])))];
      // An imported layer's original blob lives as long as the layer (cache/layer-origin.ts);
      // one that is gone only loses the origin, it does not break the layer.
      const origin = originBlob(s, layer.digest);
      if (origin !== undefined && !blobs.includes(origin) && sfs.stat(L.blob(origin))?.isFile()) blobs.push(origin);
      out.set(layer.digest, { ...it, blobs, root: roots.has(layer.digest) });
    }
    return out;
  });

  const blobs = step(steps, 'read blobs', () => {
    const out = new Map<string, Item>();
    for (const f of walkFanned(L.blobDir, '')) {
      const it = item(f.path, f.stat.size, f.stat.mtimeMs);
      if (f.digest !== undefined) out.set(f.digest, it);
      else junk.blobs.push(it);
    }
    return out;
  });

  const sum = (xs: Iterable<Item>) => [...xs].reduce((n, x) => n + x.size, 0);
  const junkSize = sum([...junk.keys, ...junk.layers, ...junk.blobs]);
  const sizeBefore = sum(keys) + sum(layers.values()) + sum(blobs.values()) + junkSize;
  let size = sizeBefore - junkSize;
  const remove = (x: Item) => {
    x.removed = true;
    size -= x.size;
  };
  const young = (x: Item) => now - x.mtime < grace;

  const dropBlob = (d: string) => {
    const b = blobs.get(d);
    if (b && !b.removed && --b.refs === 0) remove(b);
  };
  const dropLayer = (l: LayerItem) => {
    if (l.removed || l.root || --l.refs > 0) return;
    remove(l);
    for (const d of l.blobs) dropBlob(d);
  };
  const dropKey = (k: KeyItem) => {
    if (k.removed) return;
    remove(k);
    const l = k.layer === null ? undefined : layers.get(k.layer);
    if (l) dropLayer(l);
  };

  step(steps, 'mark', () => {
    // A layer missing one of its blobs is broken: it and its keys go (unless it is a root;
    // then only a rebuild can mend it, and that rewrites the blob).
    for (const l of layers.values()) {
      if (!l.root && l.blobs.some((d) => !blobs.has(d))) remove(l);
    }
    for (const k of keys) {
      const l = k.layer === null ? undefined : layers.get(k.layer);
      if (k.layer !== null && (!l || l.removed)) remove(k); // dangling
      else if (l) l.refs++;
    }
    for (const l of layers.values()) {
      if (l.removed) continue;
      if (l.refs === 0 && !l.root && !young(l)) remove(l);
      else for (const d of l.blobs) blobs.get(d)!.refs++;
    }
    for (const b of blobs.values()) if (b.refs === 0 && !young(b)) remove(b);
  });

  step(steps, 'expire', () => {
    if (opts.until === undefined) return;
    for (const k of keys) if (now - k.mtime > opts.until) dropKey(k);
  });

  step(steps, 'evict least recently used', () => {
    if (opts.keepStorage === undefined) return;
    const byAge = keys.filter((k) => !k.removed).sort((a, b) => a.mtime - b.mtime);
    for (const k of byAge) {
      if (size <= opts.keepStorage) break;
      dropKey(k);
    }
  });

  const removed = (xs: Iterable<Item>) => [...xs].filter((x) => x.removed);
  const gone = {
    keys: [...removed(keys), ...junk.keys],
    layers: [...removed(layers.values()), ...junk.layers],
    blobs: [...removed(blobs.values()), ...junk.blobs],
  };
  const all = [...gone.keys, ...gone.layers, ...gone.blobs];
  if (all.length) bumpEpoch(s);
  step(steps, 'sweep keys', () => gone.keys.forEach((x) => sfs.unlink(x.path)));
  step(steps, 'sweep layers', () => {
    gone.layers.forEach((x) => sfs.unlink(x.path));
    // A removed layer's origin record goes with it (its blob is swept below).
    for (const [d, l] of layers) if (l.removed) sfs.unlink(L.origin(d));
  });
  step(steps, 'sweep blobs', () => gone.blobs.forEach((x) => sfs.unlink(x.path)));
  if (all.length) bumpEpoch(s);

  const freedBytes = sum(all) + legacy.bytes;
  return {
    steps,
    removedLegacy: legacy.folders,
    removedKeys: gone.keys.length,
    removedLayers: gone.layers.length,
    removedBlobs: gone.blobs.length,
    freedBytes,
    sizeBefore: sizeBefore + legacy.bytes,
    sizeAfter: sizeBefore - sum(all),
  };
}
