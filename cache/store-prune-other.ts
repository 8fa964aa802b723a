/**
 * The parts of prune beyond keys, layers and blobs:
 *
 * - documents (store-docs.ts meta): a stat cache or step history whose context is gone, an
 *   output manifest whose directory is gone, an import cache whose layer is gone; the file
 *   lists of miss explanations go with their key; an imported base (`FROM oci-layout://`)
 *   keeps its layers while an image has them or a kept key was built directly on its chain
 *   (every key further up descends through such a key: a build reaches them only by
 *   hitting or rebuilding that first step, and rebuilding it needs the base);
 * - mutable directories (owned-dirs.ts): never a locked slot, never one a live lease names;
 *   import staging left by a dead process; slots whose context is gone; with `--until`,
 *   slots unused that long; with `--keep-storage`, least recently used slots until the
 *   store (files plus directories) fits. Directories of the layout before slots (no
 *   about.json, no lock) are removed.
 */
import { join } from 'node:path';
import type { DocFile } from './store-docs.js';
import type { LiveLeases } from './leases.js';
import { listSlots, removeSlot, treeBytes, type SlotInfo } from './owned-dirs.js';
import type { StoreState } from './store-state.js';
import * as sfs from './fs.js';

export interface DocContext {
  keptKeys: Set<string>;
  keys: { parent: string | undefined }[];
  /** Layers of every tagged image, bottom first. */
  imageChains: string[][];
  layerKept(d: string): boolean;
  /** Release a file list's hold on its blob. */
  dropListBlob(d: string): void;
  dropLayer(d: string): void;
}

const exists = (p: string) => sfs.stat(p) !== undefined;

export function planDocs(docs: DocFile[], x: DocContext): { remove: DocFile[] } {
  const remove: DocFile[] = [];
  const parents = new Set(x.keys.map((k) => k.parent).filter((p): p is string => p !== undefined));
  const gone = new Set<DocFile>();
  for (const doc of docs) {
    if (!doc.parsed) gone.add(doc); // written atomically: unparsable is junk, not in flight
    const m = doc.meta;
    if (m?.paths?.length && m.paths.every((p) => !exists(p))) gone.add(doc);
  }
  // Bases first: releasing one may free layers that other documents need.
  for (const doc of docs) {
    const m = doc.meta;
    if (!m?.base) continue;
    const layers = m.layers ?? [];
    const byImage = x.imageChains.some((c) => layers.every((l, i) => c[i] === l));
    const byKey = parents.has(m.base.chain);
    if (byImage || byKey) continue;
    for (const l of layers) x.dropLayer(l);
    gone.add(doc);
  }
  for (const doc of docs) {
    const m = doc.meta;
    if (!m) continue;
    if (!m.base && m.layers?.some((l) => !x.layerKept(l))) gone.add(doc);
    for (const f of m.blobs ?? []) if (gone.has(doc) || !x.keptKeys.has(f.key)) x.dropListBlob(f.blob);
  }
  for (const d of gone) remove.push(d);
  return { remove };
}

const SANDBOX_KINDS = new Set(['layers-x', 'sandbox-runs']);

export interface DirPlan {
  remove: SlotInfo[];
  legacy: string[];
}

export function planDirs(s: StoreState, o: { now: number; leases: LiveLeases; until?: number; keepStorage?: number }): DirPlan {
  const root = join(s.layout.root, 'dirs');
  const remove: SlotInfo[] = [];
  const legacy: string[] = [];
  const candidates: SlotInfo[] = [];
  for (const kind of sfs.readdir(root)) {
    // The sandbox's own folders (extracted layers, run directories) are not slots: their
    // trees may belong to sub-uids and are managed by engine/sandbox, which a prune from
    // outside the namespace must never pull from under a running RUN.
    if (SANDBOX_KINDS.has(kind)) continue;
    for (const h of sfs.readdir(join(root, kind))) {
      const base = join(root, kind, h);
      const names = sfs.readdir(base);
      // Old enough that it is not a slot being created right now (about.json comes first).
      const old = (sfs.stat(base)?.mtimeMs ?? o.now) < o.now - 60_000;
      if (old && !names.includes('about.json') && !names.some((n) => n.endsWith('.lock'))) legacy.push(base);
    }
    for (const slot of listSlots(s, kind)) {
      if (slot.locked || o.leases.dirs.has(slot.path)) continue;
      const why =
        kind === 'import' || // staging whose owner is gone
        (slot.about.length > 0 && slot.about.every((p) => !exists(p))) ||
        (o.until !== undefined && o.now - slot.lastUse > o.until);
      if (why) remove.push(slot);
      else candidates.push(slot);
    }
  }
  if (o.keepStorage !== undefined) {
    const sized = candidates.map((c) => ({ c, bytes: treeBytes(c.path) })).sort((a, b) => a.c.lastUse - b.c.lastUse);
    let total = sized.reduce((n, x) => n + x.bytes, 0);
    for (const { c, bytes } of sized) {
      if (total <= o.keepStorage) break;
      remove.push(c);
      total -= bytes;
    }
  }
  return { remove, legacy };
}

export function sweepDirs(plan: DirPlan, onRemoved: (path: string, bytes: number) => void = () => {}): { removed: number; bytes: number } {
  let removed = 0;
  let bytes = 0;
  for (const slot of plan.remove) {
    const b = treeBytes(slot.path);
    // removeSlot takes the slot's lock first: a build that acquired it since is left alone.
    if (removeSlot(slot)) {
      removed++;
      bytes += b;
      onRemoved(slot.path, b);
    }
  }
  for (const base of plan.legacy) {
    const b = treeBytes(base);
    bytes += b;
    sfs.rmrf(base);
    removed++;
    onRemoved(base, b);
  }
  return { removed, bytes };
}
