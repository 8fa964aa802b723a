/**
 * The difference between two chains that share their lower layers, without merging the old
 * chain: only the paths their differing top layers (the suffixes) name can differ, so the diff
 * is taken over those, the new chain's merged view giving the new state and the old suffix (or
 * a point lookup in the shared prefix) the old one. The workspace uses it to move its tree from
 * the chain it holds to the next one (engine/workspace.ts sync): one changed source file then
 * costs a look at the suffixes' entries, not a second 13k-entry merge and a diff of both views.
 *
 * The result is exactly `diffViews(merge(from), merge(to))`, or undefined when the suffixes
 * hold what makes paths they do not name change too, and the caller merges instead:
 * - a whiteout, an opaque dir or a hardlink (in a suffix, or a hardlink anywhere in the chain:
 *   replacing a group's head changes its members);
 * - an entry beneath a non-dir of its own layer, at any depth (the merge turns that into an
 *   implicit dir and hides the lower paths beneath it);
 * - an ancestor of a named path that is not a dir of the prefix (the merge makes it an
 *   implicit dir), or a path only the new suffix names whose old state a point lookup cannot
 *   tell;
 * - a non-dir that the other side leaves or makes a dir, or that a later layer of its own
 *   suffix makes a dir (the prefix's children beneath it would show on one side only).
 * Pure code, no I/O.
 */
import type { LayerDigest } from '../cache/digest.js';
import { compareLayerPaths } from '../cache/layer-digest.js';
import type { LayerEntry, ViewEntry } from '../cache/layer-types.js';
import { sameViewEntry, toLayerEntry } from './layer-diff.js';
import { lookupInChain, parentPath, toViewEntry, type ViewReader } from './union-view.js';

type LayerOf = (d: LayerDigest) => { entries: readonly LayerEntry[] } | undefined;

/** The top-most entry per path of `layers` (given bottom first), or undefined when one of
 *  them is missing or holds an entry this diff cannot reason about. Entries come sorted, an
 *  ancestor before its descendants, so an ancestor walk stops at the first one this layer
 *  names as a dir: its own walk has checked everything above it (one lookup per entry of a
 *  layer that names its parents, as a COPY's does). */
function named(layers: readonly LayerDigest[], layerOf: LayerOf): Map<string, LayerEntry> | undefined {
  const out = new Map<string, LayerEntry>();
  for (let i = layers.length - 1; i >= 0; i--) {
    const l = layerOf(layers[i]!);
    if (!l) return undefined;
    const upper = i < layers.length - 1;
    const own = new Map<string, LayerEntry['type']>();
    for (const e of l.entries) {
      if (e.type === 'whiteout' || e.type === 'opaque' || e.type === 'hardlink') return undefined;
      for (let a = parentPath(e.path); a !== ''; a = parentPath(a)) {
        const at = own.get(a);
        // Beneath a non-dir of its own layer, at any depth: the merge makes that an implicit
        // dir and hides the lower paths beneath it.
        if (at !== undefined && at !== 'dir') return undefined;
        // Beneath an upper suffix layer's non-dir: hidden by it.
        if (upper) {
          const top = out.get(a);
          if (top && top.type !== 'dir') return undefined;
        }
        if (at === 'dir') break;
      }
      own.set(e.path, e.type);
      const top = out.get(e.path);
      if (!top) out.set(e.path, e);
      // A lower layer's non-dir under an upper dir (or the reverse) hid the prefix's children
      // beneath it: they differ between the two sides without being named.
      else if ((top.type === 'dir') !== (e.type === 'dir')) return undefined;
    }
  }
  return out;
}

/** A layer entry that is its own visible state (named() declines the others): a ViewEntry
 *  with a path, so sameViewEntry compares it without making a view entry of it. */
function plain(e: LayerEntry): e is Exclude<LayerEntry, { type: 'whiteout' | 'opaque' | 'hardlink' }> {
  return e.type !== 'whiteout' && e.type !== 'opaque' && e.type !== 'hardlink';
}

/** `diffViews(merge(from), to)` where `to` is the merged view of `toLayers`; undefined when
 *  only a merge of `from` can tell (see the file's comment). */
export function chainSuffixDiff(from: readonly LayerDigest[], toLayers: readonly LayerDigest[], to: ViewReader, layerOf: LayerOf): LayerEntry[] | undefined {
  let k = 0;
  while (k < from.length && k < toLayers.length && from[k] === toLayers[k]) k++;
  const prefix = toLayers.slice(0, k);
  for (const d of prefix) {
    const l = layerOf(d);
    if (!l) return undefined;
    for (const e of l.entries) if (e.type === 'hardlink') return undefined;
  }
  const oldNamed = named(from.slice(k), layerOf);
  const newNamed = oldNamed && named(toLayers.slice(k), layerOf);
  if (!oldNamed || !newNamed) return undefined;
  const isDir = (e: LayerEntry | ViewEntry | undefined) => e?.type === 'dir';
  // Ancestors no suffix names must be dirs of the prefix: then both sides show them as they are.
  const checked = new Set<string>();
  for (const names of [oldNamed, newNamed]) {
    for (const path of names.keys()) {
      for (let a = parentPath(path); a !== '' && !checked.has(a); a = parentPath(a)) {
        checked.add(a);
        if (oldNamed.has(a) || newNamed.has(a)) continue;
        const e = lookupInChain(prefix, layerOf, a);
        if (e === 'unknown' || e?.type !== 'dir' || to.get(a)?.type !== 'dir') return undefined;
      }
    }
  }
  const out: LayerEntry[] = [];
  const visit = (path: string, was: ViewEntry | undefined) => {
    const now = to.get(path);
    if (now) {
      if (!(was !== undefined && (was === now || sameViewEntry(was, now)))) out.push(toLayerEntry(path, now));
    } else if (was) {
      const parent = parentPath(path);
      if (parent === '' || to.get(parent)?.type === 'dir') out.push({ path, type: 'whiteout' });
    }
  };
  for (const [path, o] of oldNamed) {
    const n = newNamed.get(path);
    // An old non-dir hid the prefix's children: a dir on the new side shows them again.
    if (!isDir(o) && (n ? isDir(n) : isDir(to.get(path)))) return undefined;
    // The new suffix's top entry is what the new view shows there (nothing above it, no
    // hardlink, no implicit dir: named() declined those): the same state is no change.
    if (n && (o === n || (plain(o) && plain(n) && sameViewEntry(o, n)))) continue;
    visit(path, toViewEntry(o));
  }
  for (const path of newNamed.keys()) {
    if (oldNamed.has(path)) continue;
    const was = lookupInChain(prefix, layerOf, path);
    if (was === 'unknown') return undefined;
    visit(path, was);
  }
  return out.sort((a, b) => compareLayerPaths(a.path, b.path));
}
