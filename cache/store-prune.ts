/**
 * `stratum cache prune`: mark and sweep, as named, timed steps, over every kind of thing in
 * the store: keys, layers, blobs (here), documents and mutable directories
 * (store-prune-other.ts).
 *
 * Leases (leases.ts) come first: what a live build or import names is a root (its layers,
 * its keys, the blobs of its step in progress), and everything written since the oldest
 * live lease began is kept as if young. Leases are read again just before the sweep, and
 * what a build leased in between is spared: a build that starts during a prune is safe.
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
import type { PruneOptions, PruneReport, PrunedItem } from './store-types.js';
import { decodeLayer } from './layer-manifest.js';
import { decodeKey } from './key-file.js';
import { listImages } from './image-store.js';
import { legacyFolders, removeLegacyFolders } from './store-legacy.js';
import { treeBytes } from './owned-dirs.js';
import { join } from 'node:path';
import { originBlob } from './layer-origin.js';
import { walkFanned } from './store-walk.js';
import { step } from './timed-steps.js';
import { bumpEpoch, type StoreState } from './store-state.js';
import { readLeases, type LiveLeases } from './leases.js';
import { listDocs } from './store-docs.js';
import { planDocs, planDirs, sweepDirs } from './store-prune-other.js';
import * as sfs from './fs.js';

interface Item {
  path: string;
  size: number;
  mtime: number;
  refs: number;
  removed: boolean;
}
interface KeyItem extends Item {
  key: string;
  layer: string | null;
  chain: string;
  /** The chain below the step (record.parent of the engine's key schema), when known. */
  parent: string | undefined;
  /** Named by a live lease: never evicted. */
  pinned: boolean;
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
  // A dry run plans exactly as a real prune does and stops before the first change.
  const dry = opts.dryRun === true;
  const legacyItems = step(steps, 'list old layout folders', () =>
    legacyFolders(L.root).map((f): PrunedItem => ({ kind: 'legacy', name: f, path: join(L.root, f), bytes: treeBytes(join(L.root, f)) })),
  );
  const legacy = dry
    ? { folders: legacyItems.map((i) => i.name), bytes: legacyItems.reduce((n, i) => n + i.bytes, 0) }
    : step(steps, 'remove old layout folders', () => removeLegacyFolders(L.root));
  const leases = step(steps, 'read leases', () => readLeases(s, { keepDead: dry }));
  // Everything written since the oldest live lease began may belong to it.
  const graceMs = Math.max(grace, leases.oldest !== undefined ? now - leases.oldest + 1_000 : 0);

  const images = step(steps, 'read images', () => listImages(s));
  const roots = new Set<string>([...opts.roots, ...leases.layers]);
  for (const image of images) for (const l of image.layers) roots.add(l);

  const keys = step(steps, 'read keys', () => {
    const out: KeyItem[] = [];
    for (const f of walkFanned(L.keyDir, '.json')) {
      const text = f.digest !== undefined ? sfs.readFile(f.path) : undefined;
      const rec = text && f.digest !== undefined ? decodeKey(text.toString('utf8'), asStepKey(f.digest)) : undefined;
      const it = item(f.path, f.stat.size, f.stat.mtimeMs);
      if (rec) {
        const parent = (rec.record as { parent?: unknown } | null)?.parent;
        out.push({ ...it, key: rec.key, layer: rec.layer, chain: rec.chain, parent: typeof parent === 'string' ? parent : undefined, pinned: leases.keys.has(rec.key) });
      }
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
  const young = (x: Item) => now - x.mtime < graceMs;
  const docs = step(steps, 'read documents', () => listDocs(s));

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
    // Imported bases hold their layers until we know whether a kept key stands on them.
    for (const doc of docs) for (const d of doc.meta?.base ? (doc.meta.layers ?? []) : []) {
      const l = layers.get(d);
      if (l && !l.removed) l.refs++;
    }
    for (const l of layers.values()) {
      if (l.removed) continue;
      if (l.refs === 0 && !l.root && !young(l)) remove(l);
      else for (const d of l.blobs) blobs.get(d)!.refs++;
    }
    // Blobs of a live build's step in progress, and the file lists of miss explanations
    // (held while their key is; released below for keys that go).
    for (const d of leases.blobs) {
      const b = blobs.get(d);
      if (b) b.refs++;
    }
    for (const doc of docs) for (const f of doc.meta?.blobs ?? []) {
      const b = blobs.get(f.blob);
      if (b) b.refs++;
    }
    for (const b of blobs.values()) if (b.refs === 0 && !young(b)) remove(b);
  });

  step(steps, 'expire', () => {
    if (opts.until === undefined) return;
    for (const k of keys) if (!k.pinned && now - k.mtime > opts.until) dropKey(k);
  });

  step(steps, 'evict least recently used', () => {
    if (opts.keepStorage === undefined) return;
    const byAge = keys.filter((k) => !k.removed && !k.pinned).sort((a, b) => a.mtime - b.mtime);
    for (const k of byAge) {
      if (size <= opts.keepStorage) break;
      dropKey(k);
    }
  });

  const keptKeys = new Set(keys.filter((k) => !k.removed).map((k) => k.key));
  const docPlan = step(steps, 'release documents', () =>
    planDocs(docs, {
      keptKeys,
      keys: keys.filter((k) => !k.removed),
      imageChains: images.map((i) => i.layers),
      layerKept: (d) => {
        const l = layers.get(d);
        return l !== undefined && !l.removed;
      },
      // A file list written within the grace may be one a build without a lease is about to name.
      dropListBlob: (d) => {
        const b = blobs.get(d);
        if (b && !young(b)) dropBlob(d);
      },
      dropLayer: (d) => {
        const l = layers.get(d);
        if (l) dropLayer(l);
      },
    }),
  );
  const dirPlan = step(steps, 'plan directories', () => planDirs(s, { now, leases, ...(opts.until !== undefined ? { until: opts.until } : {}), ...(opts.keepStorage !== undefined ? { keepStorage: Math.max(0, opts.keepStorage - size) } : {}) }));

  step(steps, 'read leases again', () => spareLeased(readLeases(s, { keepDead: dry }), { keys, layers, blobs }));

  const removed = (xs: Iterable<Item>) => [...xs].filter((x) => x.removed);
  const gone = {
    keys: [...removed(keys), ...junk.keys],
    layers: [...removed(layers.values()), ...junk.layers],
    blobs: [...removed(blobs.values()), ...junk.blobs],
  };
  const all = [...gone.keys, ...gone.layers, ...gone.blobs];
  const name = (x: Item) => x.path.slice(x.path.lastIndexOf('/') + 1).replace(/\.json$/, '');
  const items: PrunedItem[] = [
    ...legacyItems,
    ...gone.keys.map((x): PrunedItem => ({ kind: 'key', name: name(x), path: x.path, bytes: x.size })),
    ...gone.layers.map((x): PrunedItem => ({ kind: 'layer', name: name(x), path: x.path, bytes: x.size })),
    ...gone.blobs.map((x): PrunedItem => ({ kind: 'blob', name: name(x), path: x.path, bytes: x.size })),
    ...docPlan.remove.map((d): PrunedItem => ({ kind: 'document', name: `${d.kind}/${d.path.slice(d.path.lastIndexOf('/') + 1)}`, path: d.path, bytes: d.size })),
    ...dirPlan.remove.map((d): PrunedItem => ({ kind: 'directory', name: `${d.kind}/${d.base.slice(d.base.lastIndexOf('/') + 1)}/${d.slot}${d.name ? ` (${d.name})` : ''}`, path: d.path, bytes: dry ? treeBytes(d.path) : 0 })),
    ...dirPlan.legacy.map((p): PrunedItem => ({ kind: 'directory', name: p.slice(p.lastIndexOf('/') + 1), path: p, bytes: dry ? treeBytes(p) : 0 })),
  ];
  const docBytes = docPlan.remove.reduce((n, d) => n + d.size, 0);
  const common = {
    steps,
    removedLegacy: legacy.folders,
    removedKeys: gone.keys.length,
    removedLayers: gone.layers.length,
    removedBlobs: gone.blobs.length,
    freedBytes: sum(all) + legacy.bytes,
    sizeBefore: sizeBefore + legacy.bytes,
    sizeAfter: sizeBefore - sum(all),
    removedDocs: docPlan.remove.length,
    leases: leases.count,
    removedLeases: leases.removedDead,
  };
  if (dry) {
    const dirItems = items.filter((i) => i.kind === 'directory');
    return { ...common, dryRun: true, items, removedDirs: dirItems.length, freedDirBytes: dirItems.reduce((n, i) => n + i.bytes, 0) + docBytes };
  }

  if (all.length) bumpEpoch(s);
  step(steps, 'sweep keys', () => gone.keys.forEach((x) => sfs.unlink(x.path)));
  step(steps, 'sweep layers', () => {
    gone.layers.forEach((x) => sfs.unlink(x.path));
    // A removed layer's origin record goes with it (its blob is swept below).
    for (const [d, l] of layers) if (l.removed) sfs.unlink(L.origin(d));
  });
  step(steps, 'sweep blobs', () => gone.blobs.forEach((x) => sfs.unlink(x.path)));
  if (all.length) bumpEpoch(s);
  step(steps, 'sweep documents', () => docPlan.remove.forEach((d) => sfs.unlink(d.path)));
  // Directory sizes are measured as they go (sweepDirs); a slot a build took meanwhile stays.
  const dirSizes = new Map<string, number>();
  const dirs = step(steps, 'sweep directories', () => sweepDirs(dirPlan, (path, bytes) => dirSizes.set(path, bytes)));
  const swept = items.filter((i) => i.kind !== 'directory' || dirSizes.has(i.path)).map((i) => (i.kind === 'directory' ? { ...i, bytes: dirSizes.get(i.path)! } : i));
  return { ...common, dryRun: false, items: swept, removedDirs: dirs.removed, freedDirBytes: dirs.bytes + docBytes };
}

/** What a build leased after the first read is spared: its keys (with their layers and
 *  blobs), its layers (with their blobs) and the blobs of its step in progress. */
function spareLeased(again: LiveLeases, x: { keys: KeyItem[]; layers: Map<string, LayerItem>; blobs: Map<string, Item> }): void {
  const spareLayer = (d: string) => {
    const l = x.layers.get(d);
    if (!l) return;
    l.removed = false;
    for (const b of l.blobs) {
      const bi = x.blobs.get(b);
      if (bi) bi.removed = false;
    }
  };
  for (const k of x.keys) {
    if (k.removed && again.keys.has(k.key)) {
      k.removed = false;
      if (k.layer) spareLayer(k.layer);
    }
  }
  for (const d of again.layers) spareLayer(d);
  for (const d of again.blobs) {
    const b = x.blobs.get(d);
    if (b) b.removed = false;
  }
}
