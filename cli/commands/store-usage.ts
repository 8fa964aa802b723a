/**
 * Accounting over a store for `stratum du` and `stratum prune`: counts and bytes of blobs,
 * layer manifests and keys, what tagged images reach, and which keys were used lately.
 * Reads the store's folders with the store's own walker (cache/store-walk.ts), never writes.
 * Cost: one stat per store file (DESIGN.md: lstat of 50k files, ~200 ms).
 */
import { join } from 'node:path';
import { lstatSync, readFileSync, readdirSync } from 'node:fs';
import { asLayerDigest, asStepKey, type LayerDigest } from '../../cache/digest.js';
import { decodeKey } from '../../cache/key-file.js';
import { BLOBS, DIRS, DOCS, KEYS, LAYERS } from '../../cache/store-layout.js';
import { walkFanned } from '../../cache/store-walk.js';
import type { Store } from '../../cache/store-types.js';

export interface Tally {
  count: number;
  bytes: number;
  /** Entries tagged images reach (never pruned). */
  activeCount: number;
  activeBytes: number;
}

export interface StoreUsage {
  images: { count: number; bytes: number };
  layers: Tally;
  blobs: Tally;
  keys: Tally;
  /** Workspaces, cache mounts and documents: not part of size(); pruned by their own rules (cache/store-prune-other.ts). */
  other: { bytes: number };
  /** size(): blobs + layers + keys. */
  total: number;
  /** What `prune --keep-storage 0` can free: everything no tagged image reaches. */
  reclaimable: number;
}

const tally = (): Tally => ({ count: 0, bytes: 0, activeCount: 0, activeBytes: 0 });

export function storeUsage(store: Store): StoreUsage {
  const root = store.root;
  const imageLayers = new Set<string>();
  const images = store.listImages();
  for (const img of images) for (const l of img.layers) imageLayers.add(l);
  const imageBlobs = new Set<string>();
  for (const l of imageLayers) for (const e of store.getLayer(asLayerDigest(l))?.entries ?? []) if (e.type === 'file') imageBlobs.add(e.digest);

  const count = (base: string, suffix: string, active: (digest: string) => boolean): Tally => {
    const t = tally();
    for (const f of walkFanned(join(root, base), suffix)) {
      t.count++;
      t.bytes += f.stat.size;
      if (f.digest !== undefined && active(f.digest)) {
        t.activeCount++;
        t.activeBytes += f.stat.size;
      }
    }
    return t;
  };
  const layers = count(LAYERS, '.json', (d) => imageLayers.has(d));
  const blobs = count(BLOBS, '', (d) => imageBlobs.has(d));
  const keys = count(KEYS, '.json', () => false);
  const total = layers.bytes + blobs.bytes + keys.bytes;
  const active = layers.activeBytes + blobs.activeBytes;
  return {
    images: { count: images.length, bytes: active },
    layers,
    blobs,
    keys,
    other: { bytes: treeBytes(join(root, DIRS)) + treeBytes(join(root, DOCS)) },
    total,
    reclaimable: total - active,
  };
}

/** Bytes of the regular files under `dir` (iterative: workspaces can be deep). */
function treeBytes(dir: string): number {
  let n = 0;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const name of names) {
      const p = join(d, name);
      try {
        const st = lstatSync(p);
        if (st.isDirectory()) stack.push(p);
        else if (st.isFile()) n += st.size;
      } catch {
        // gone meanwhile
      }
    }
  }
  return n;
}

/** Layers of keys used within the last `ms`: a build that is running may stand on them. */
export function recentlyUsedLayers(store: Store, ms: number, now = Date.now()): Set<LayerDigest> {
  const out = new Set<LayerDigest>();
  if (ms <= 0) return out;
  for (const f of walkFanned(join(store.root, KEYS), '.json')) {
    if (f.digest === undefined || now - f.stat.mtimeMs > ms) continue;
    let text: string | undefined;
    try {
      text = readFileSync(f.path, 'utf8');
    } catch {
      text = undefined;
    }
    const rec = text !== undefined ? decodeKey(text, asStepKey(f.digest)) : undefined;
    if (rec?.layer) out.add(rec.layer);
  }
  return out;
}
