/**
 * The union view: what a stack of layers looks like as one tree (overlayfs / OCI semantics).
 *
 * Layers stack bottom-first; read top-down, the first entry for a path wins.
 * - `whiteout` at P deletes P and everything beneath it in lower layers.
 * - `opaque` at P is a directory with that mode that hides everything lower beneath P;
 *   entries of the same layer beneath P still show.
 * - `file` / `symlink` / a device or fifo at P hides every lower entry beneath P (a file
 *   replaced a directory).
 * - `hardlink` at P names a `file` entry of the same layer (sorting before P): P shows that
 *   file's content, mode, owner and xattrs, as a `file` whose `link` names the group's first
 *   path. An upper layer that changes one path of a group does not change the others (as on
 *   disk after a copy-up), and materializing links P only while both still agree.
 * - `dir` at P over a lower dir only changes the mode: the lower children stay visible.
 *   Over a lower file or symlink it replaces it.
 * - A path whose parents appear in no layer gets implicit parent dirs, mode 0o755.
 * - A path beneath a non-directory (a file, or a symlink: symlinks are never followed) turns
 *   that non-directory into an implicit dir 0o755, as Docker's `COPY` into a path that was a
 *   file does. Between layers the upper entry wins; inside one layer (an invalid layer, but one
 *   we give a meaning to rather than a crash) the deeper entry wins.
 *
 * Whiteouts and opaque markers only act on lower layers (OCI: "files that are present in the
 * same layer as a whiteout can only be hidden by whiteouts in subsequent layers"). Applying a
 * layer's entries in path order gives exactly that, because an ancestor always sorts before its
 * descendants: a whiteout or opaque at P has done its deleting before the same layer's entries
 * beneath P are added. Entry order in the input therefore does not matter.
 *
 * Cost: a children-by-parent index makes deleting a subtree cost its own size, not the size of
 * the view, and adding a path cost its depth. Measured on a dev machine for 50,000 files in
 * 500 dirs: merge 72 ms, clone 23 ms, 500 single-file whiteouts 1.4 ms, sorted entries 8 ms.
 * Pure code, no I/O.
 */
import { asChainDigest, EMPTY_CHAIN, type ChainDigest, type LayerDigest } from '../cache/digest.js';
import { sha256 } from '../cache/hash.js';
import { compareLayerPaths, normalizeEntries } from '../cache/layer-digest.js';
import type { EntryMeta, LayerEntry, View, ViewEntry } from '../cache/layer-types.js';

/** Mode of a directory that no layer names (a parent of a copied path, or a replaced file). */
export const IMPLICIT_DIR_MODE = 0o755;

/** What diffing and materializing need from a view: a plain `View` map or a `UnionView`. */
export interface ViewReader {
  get(path: string): ViewEntry | undefined;
  has(path: string): boolean;
  /** Every path, in no particular order. */
  keys(): Iterable<string>;
  readonly size: number;
}

/** '' (the root) for a top-level path. */
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/** `to` with the owner and xattr fields of `from` that are set (xattrs shared, not copied).
 *  Assigned, not spread: views of 10k+ entries are built from it on every build. */
export function withMeta<T extends EntryMeta>(to: T, from: EntryMeta): T {
  if (from.uid) to.uid = from.uid;
  if (from.gid) to.gid = from.gid;
  if (from.xattrs) {
    for (const _ in from.xattrs) {
      to.xattrs = from.xattrs;
      break;
    }
  }
  return to;
}

/**
 * The visible state a layer entry leaves at its own path, or undefined for a whiteout. A
 * hardlink needs the file entry it names (`linked`, from the same layer): it shows as that
 * file, with `link` naming the file's path, the first path of the group.
 */
export function toViewEntry(e: LayerEntry, linked?: Extract<LayerEntry, { type: 'file' }>): ViewEntry | undefined {
  switch (e.type) {
    case 'file':
      return withMeta<ViewEntry>({ type: 'file', mode: e.mode, size: e.size, digest: e.digest }, e);
    case 'hardlink': {
      if (!linked || linked.path !== e.target) throw new Error(`hardlink ${JSON.stringify(e.path)} needs the file entry ${JSON.stringify(e.target)} of its layer`);
      const v = withMeta<ViewEntry & { type: 'file' }>({ type: 'file', mode: linked.mode, size: linked.size, digest: linked.digest }, linked);
      v.link = e.target;
      return v;
    }
    case 'dir':
    case 'opaque':
      return withMeta<ViewEntry>({ type: 'dir', mode: e.mode }, e);
    case 'symlink':
      return withMeta<ViewEntry>({ type: 'symlink', mode: e.mode, target: e.target }, e);
    case 'char':
    case 'block':
      return withMeta<ViewEntry>({ type: e.type, mode: e.mode, major: e.major, minor: e.minor }, e);
    case 'fifo':
      return withMeta<ViewEntry>({ type: 'fifo', mode: e.mode }, e);
    case 'whiteout':
      return undefined;
  }
}

/**
 * A union view with a children index. Invariant: every ancestor of a present path is present
 * and is a dir; `children` maps a dir path ('' for the root) to its present children, and has
 * no key for a dir without children.
 *
 * Entry objects are never mutated once stored (a mode change stores a new object), so clones
 * and snapshots may share them. Callers must not mutate what `get` returns.
 */
export class UnionView implements ViewReader {
  readonly #entries = new Map<string, ViewEntry>();
  readonly #children = new Map<string, Set<string>>();
  /** Hardlink groups: the first path of a group → the other paths whose entry links to it.
   *  Invariant: a `link` always names a present, unchanged group head; replacing or deleting
   *  the head turns its members into plain files (they keep their content, as a copy would). */
  readonly #members = new Map<string, Set<string>>();
  /** Sorted paths, rebuilt lazily after a path is added or removed. */
  #sorted: string[] | undefined;

  /** A view of a plain snapshot; missing ancestors become implicit dirs. */
  static fromMap(view: ReadonlyMap<string, ViewEntry>): UnionView {
    const u = new UnionView();
    for (const path of [...view.keys()].sort(compareLayerPaths)) u.#put(path, view.get(path)!);
    return u;
  }

  get size(): number {
    return this.#entries.size;
  }
  get(path: string): ViewEntry | undefined {
    return this.#entries.get(path);
  }
  has(path: string): boolean {
    return this.#entries.has(path);
  }
  /** Every path, in no particular order (cheap; `entries()` sorts). */
  keys(): IterableIterator<string> {
    return this.#entries.keys();
  }
  /** The direct children of a dir path ('' for the root), sorted. */
  childrenOf(path: string): string[] {
    return [...(this.#children.get(path) ?? [])].sort(compareLayerPaths);
  }
  /** Every (path, entry), sorted by path: parents before their children. */
  entries(): [string, ViewEntry][] {
    this.#sorted ??= [...this.#entries.keys()].sort(compareLayerPaths);
    return this.#sorted.map((p) => [p, this.#entries.get(p)!]);
  }
  /** A plain snapshot, in path order. */
  toMap(): View {
    return new Map(this.entries());
  }
  /** An independent copy (entry objects are shared: they are immutable). */
  clone(): UnionView {
    const u = new UnionView();
    for (const [p, e] of this.#entries) u.#entries.set(p, e);
    for (const [p, kids] of this.#children) u.#children.set(p, new Set(kids));
    for (const [p, m] of this.#members) u.#members.set(p, new Set(m));
    u.#sorted = this.#sorted;
    return u;
  }

  /** Apply one layer on top of this view (see the file comment for the rules). Throws on an
   *  invalid layer: a bad path, a duplicate path or a bad mode. */
  apply(layer: readonly LayerEntry[]): void {
    /** This layer's file entries, for its hardlinks (normalizeEntries put each file first). */
    let files: Map<string, Extract<LayerEntry, { type: 'file' }>> | undefined;
    for (const e of normalizeEntries(layer)) {
      switch (e.type) {
        case 'file':
          (files ??= new Map()).set(e.path, e);
          this.#put(e.path, toViewEntry(e)!);
          break;
        case 'hardlink':
          this.#put(e.path, toViewEntry(e, files?.get(e.target))!);
          break;
        case 'whiteout':
          this.#removeSubtree(e.path);
          break;
        case 'opaque': {
          const old = this.#entries.get(e.path);
          if (old?.type === 'dir') this.#removeBeneath(e.path);
          this.#put(e.path, toViewEntry(e)!);
          break;
        }
        default:
          this.#put(e.path, toViewEntry(e)!);
      }
    }
  }

  /** Set `path`, creating or converting its ancestors into dirs. A non-dir replacing a dir
   *  drops the dir's subtree; a dir over a dir keeps it. */
  #put(path: string, entry: ViewEntry): void {
    const old = this.#entries.get(path);
    if (old) {
      if (old.type === 'dir' && entry.type !== 'dir') this.#removeBeneath(path);
      this.#forget(path, old);
      this.#set(path, entry);
      return;
    }
    this.#ensureParentDir(path);
    this.#set(path, entry);
    this.#link(path);
  }

  /** Store an entry, joining its hardlink group when it names a present head (else it is
   *  stored as a plain file: a link to nothing is not kept). */
  #set(path: string, entry: ViewEntry): void {
    if (entry.type === 'file' && entry.link !== undefined) {
      const head = this.#entries.get(entry.link);
      if (head?.type === 'file' && head.link === undefined && entry.link !== path) {
        let m = this.#members.get(entry.link);
        if (!m) this.#members.set(entry.link, (m = new Set()));
        m.add(path);
      } else {
        const { link: _, ...plain } = entry;
        entry = plain;
      }
    }
    this.#entries.set(path, entry);
  }

  /** The entry at `path` (`old`) is being replaced or deleted: leave its group, and when it
   *  heads one, turn the members into plain files. */
  #forget(path: string, old: ViewEntry): void {
    if (old.type !== 'file') return;
    if (old.link !== undefined) this.#members.get(old.link)?.delete(path);
    const members = this.#members.get(path);
    if (!members) return;
    this.#members.delete(path);
    for (const m of members) {
      const e = this.#entries.get(m);
      if (e?.type === 'file' && e.link === path) {
        const { link: _, ...plain } = e;
        this.#entries.set(m, plain);
      }
    }
  }

  /** Make every ancestor of `path` a dir: walk up to the first existing dir, then create the
   *  missing ones top-down. A file or symlink on the way becomes an implicit dir (it has no
   *  children, and its own ancestors are dirs already by the invariant). */
  #ensureParentDir(path: string): void {
    const missing: string[] = [];
    for (let p = parentPath(path); p !== ''; p = parentPath(p)) {
      const e = this.#entries.get(p);
      if (e?.type === 'dir') break;
      if (e) {
        this.#forget(p, e);
        this.#entries.set(p, { type: 'dir', mode: IMPLICIT_DIR_MODE });
        break;
      }
      missing.push(p);
    }
    for (let i = missing.length - 1; i >= 0; i--) {
      const p = missing[i]!;
      this.#entries.set(p, { type: 'dir', mode: IMPLICIT_DIR_MODE });
      this.#link(p);
    }
  }

  #link(path: string): void {
    const parent = parentPath(path);
    let kids = this.#children.get(parent);
    if (!kids) this.#children.set(parent, (kids = new Set()));
    kids.add(path);
    this.#sorted = undefined;
  }

  /** Delete `path` and its subtree; a missing path is fine (a whiteout of nothing). */
  #removeSubtree(path: string): void {
    const old = this.#entries.get(path);
    if (!old) return;
    this.#removeBeneath(path);
    this.#forget(path, old);
    this.#entries.delete(path);
    const parent = parentPath(path);
    const kids = this.#children.get(parent);
    kids?.delete(path);
    if (kids?.size === 0) this.#children.delete(parent);
    this.#sorted = undefined;
  }

  /** Delete everything beneath `path`, keeping `path`. Iterative: paths may be deep. */
  #removeBeneath(path: string): void {
    const kids = this.#children.get(path);
    if (!kids) return;
    this.#children.delete(path);
    const stack = [...kids];
    while (stack.length) {
      const p = stack.pop()!;
      const old = this.#entries.get(p);
      if (old) this.#forget(p, old);
      this.#entries.delete(p);
      const grand = this.#children.get(p);
      if (grand) {
        this.#children.delete(p);
        for (const g of grand) stack.push(g);
      }
    }
    this.#sorted = undefined;
  }
}

/** Mutate `view` by one layer, the new upper one. */
export function applyLayer(view: UnionView, layer: readonly LayerEntry[]): void {
  view.apply(layer);
}

/** The union view of layers given bottom first. */
export function mergeLayers(layers: readonly (readonly LayerEntry[])[]): UnionView {
  const view = new UnionView();
  for (const layer of layers) view.apply(layer);
  return view;
}

/** The union view of a chain of stored layers, bottom first; undefined when `lookup` finds
 *  no manifest for one of them. */
export function mergeChain(digests: readonly LayerDigest[], lookup: (d: LayerDigest) => { entries: readonly LayerEntry[] } | undefined): UnionView | undefined {
  const layers: (readonly LayerEntry[])[] = [];
  for (const d of digests) {
    const l = lookup(d);
    if (!l) return undefined;
    layers.push(l.entries);
  }
  return mergeLayers(layers);
}

/**
 * The chain digest after one more step: sha256(`${below} ${layer}`), as OCI's ChainID
 * H(chain(L1..Ln-1), digest(Ln)). A step without a layer (`null`: a metadata-only
 * instruction) leaves the chain as it was.
 */
export function chainDigest(below: ChainDigest, layer: LayerDigest | null): ChainDigest {
  return layer === null ? below : asChainDigest(sha256(`${below} ${layer}`));
}

/** The chain digest of layers given bottom first; EMPTY_CHAIN for none. */
export function chainOf(layers: readonly (LayerDigest | null)[]): ChainDigest {
  let chain = EMPTY_CHAIN;
  for (const l of layers) chain = chainDigest(chain, l);
  return chain;
}

/**
 * One path of a chain's union view without merging it: the layers are read top-down and the
 * first one that decides the path answers (its entry, or a whiteout, an opaque or non-dir
 * ancestor that hides it). A layer with entries beneath the path makes it a dir: its own dir
 * entry, a lower layer's dir, or else an implicit dir (IMPLICIT_DIR_MODE), as the merge does;
 * a path no layer names is absent. `'unknown'` when only a merge can tell: the entry is a
 * hardlink (its group follows the merge's rules). Each layer is searched by bisection over its sorted entries, so a lookup costs
 * O(layers × depth × log entries) and decodes only the layers above the answer: a
 * `COPY --from=build /app/dist/` of the bench's Dockerfile reads the top (compile) layer only,
 * where merging the stage's view cost 52 ms of a warm 10k-file build.
 */
export function lookupInChain(
  digests: readonly LayerDigest[],
  layerOf: (d: LayerDigest) => { entries: readonly LayerEntry[] } | undefined,
  path: string,
): ViewEntry | undefined | 'unknown' {
  const ancestors: string[] = [];
  for (let p = parentPath(path); p !== ''; p = parentPath(p)) ancestors.push(p);
  for (let i = digests.length - 1; i >= 0; i--) {
    const layer = layerOf(digests[i]!);
    if (!layer) return 'unknown';
    const entries = layer.entries;
    const own = findSorted(entries, path);
    // Entries beneath the path in this layer make it a dir whatever names it (or nothing).
    if (hasBeneath(entries, path)) {
      if (own?.type === 'dir' || own?.type === 'opaque') return toViewEntry(own);
      if (own?.type === 'hardlink') return 'unknown';
      // A non-dir of its own layer with entries beneath becomes an implicit dir (the deeper
      // entry wins); named by nothing, the path keeps a lower dir as it is unless an ancestor
      // of this layer that is not a dir hides the lower ones, else it is implicit.
      if (!own && !hidesBelow(entries, ancestors)) {
        const below = lookupInChain(digests.slice(0, i), layerOf, path);
        if (below === 'unknown') return 'unknown';
        if (below?.type === 'dir') return below;
      }
      return { type: 'dir', mode: IMPLICIT_DIR_MODE };
    }
    if (own) {
      if (own.type === 'hardlink') return 'unknown';
      return toViewEntry(own);
    }
    if (hidesBelow(entries, ancestors)) return undefined;
  }
  // No layer names the path, anything beneath it, or a non-dir above it: the merge never makes it.
  return undefined;
}

/** Whether a layer names one of `ancestors` as anything but a dir (a whiteout, a file, a
 *  symlink, an opaque dir): that hides the lower layers' paths beneath it; a dir lets them show. */
function hidesBelow(entries: readonly LayerEntry[], ancestors: readonly string[]): boolean {
  for (const a of ancestors) {
    const e = findSorted(entries, a);
    if (e && e.type !== 'dir') return true;
  }
  return false;
}

/** Whether sorted entries have one beneath `path` other than a whiteout (bisection to the first path ≥ `path/`;
 *  every descendant sorts at or after it, though not every path after it is a descendant). */
function hasBeneath(entries: readonly LayerEntry[], path: string): boolean {
  const prefix = path + '/';
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (entries[mid]!.path < prefix) lo = mid + 1;
    else hi = mid;
  }
  // A whiteout makes no parent: only another kind of entry beneath the path does.
  for (; lo < entries.length && entries[lo]!.path.startsWith(prefix); lo++) if (entries[lo]!.type !== 'whiteout') return true;
  return false;
}

/** The entry at `path` in entries sorted by compareLayerPaths (as stored layers are). */
function findSorted(entries: readonly LayerEntry[], path: string): LayerEntry | undefined {
  let lo = 0;
  let hi = entries.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const p = entries[mid]!.path;
    if (p === path) return entries[mid];
    if (p < path) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}
