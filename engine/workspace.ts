/**
 * The workspace: one directory per (context, Dockerfile, stage), kept between builds, where a
 * union view is materialized so that RUN can execute in it.
 *
 * Before a RUN, the workspace is brought to the chain the step needs by applying only the
 * difference between the view it holds and the view needed (delete, write, chmod, symlink),
 * never a full copy. It records the stat of every path (inode, size, mtime, ctime, mode).
 * After the RUN, one stat walk compares stats; only paths whose stat moved are read and
 * hashed, and the difference of the two views is the new layer.
 *
 * Racy writes: a RUN that rewrites a file within the same coarse clock tick as our last write
 * could leave size, mtime and ctime unchanged. Before every RUN we wait until the file system
 * clock has moved past the newest timestamp we recorded (a probe file's ctime tells), which
 * costs at most one tick (≤ 10 ms) and only right after we wrote something.
 *
 * Ownership: the directory is a slot the caller acquired from the store (cache/owned-dirs.ts)
 * and holds locked while it builds, so no other build changes the tree under it. The slot's
 * dirty marker is set before the first change (a sync included) and cleared only once the
 * records describe the tree again; a workspace found dirty (kill -9 mid-sync or mid-RUN) is
 * re-scanned against its records and brought back, or rebuilt from empty when its records
 * name a layer the store no longer has.
 */
import { copyFileSync, chmodSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync, type BigIntStats } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { hashFileSync } from '../cache/hash.js';
import { asBlobDigest, type ChainDigest, type LayerDigest } from '../cache/digest.js';
import type { EntryMeta, LayerEntry, ViewEntry } from '../cache/layer-types.js';
import type { Store } from '../cache/store-types.js';
import { MAX_SLOTS, type OwnedDir } from '../cache/owned-dirs.js';
import { StoreError } from '../cache/store-types.js';

/** The store directory kind of workspaces. */
export const WORKSPACES = 'workspaces';
import { EMPTY_CHAIN } from '../cache/digest.js';
import { diffViews, sameViewEntry, toLayerEntry } from './layer-diff.js';
import { compareLayerPaths } from '../cache/layer-digest.js';
import { chainSuffixDiff } from './chain-diff.js';
import { mergeChain, withMeta, type UnionView, type ViewReader } from './union-view.js';
import type { UpperChange } from './sandbox/snapshot.js';

/** The read side of a union view: a UnionView or a plain Map of paths (what a snapshot
 *  returns); diffViews takes either as is, without copying. */
export interface ViewLike extends ViewReader {
  entries(): Iterable<[string, ViewEntry]>;
}

type StatRow = [ino: string, size: number, mtimeNs: string, ctimeNs: string, mode: number];

interface WsState {
  v: 1;
  layers: LayerDigest[];
  chain: ChainDigest;
  /** False from the start of a RUN until its snapshot: the tree may differ from `layers`. */
  clean: boolean;
  stats: Record<string, StatRow>;
  maxCtimeNs: string;
  /** Device nodes and fifos of the view that could not be made here (mknod needs privileges):
   *  the snapshot keeps them as they were, so a RUN does not whiteout what it never saw. */
  unmade?: string[];
}

export interface SyncStats {
  written: number;
  removed: number;
  ms: number;
}

export class Workspace {
  readonly dir: string;
  readonly root: string;
  readonly #store: Store;
  get store(): Store {
    return this.#store;
  }
  readonly #owned: OwnedDir;
  #state: WsState;
  /** The records in memory describe the tree, the saved ones may not (a sync's): the dirty
   *  marker stays until they are saved, by the commit after the RUN or by release(). */
  #unsaved = false;

  /** A workspace in `owned`, a slot the caller acquired through the store; or, given an id,
   *  in the first free slot of that id (throws when all are busy). release() frees it. */
  constructor(store: Store, owned: OwnedDir | string) {
    this.#store = store;
    if (typeof owned === 'string') {
      const got = store.acquireDir(WORKSPACES, owned, { slots: MAX_SLOTS });
      if (!got) throw new StoreError('EIO', `store: every workspace slot of ${owned} is busy`, { id: owned });
      owned = got;
    }
    this.#owned = owned;
    this.dir = owned.path;
    this.root = join(this.dir, 'root');
    mkdirSync(this.root, { recursive: true });
    const s = owned.readJson<WsState>('state');
    this.#state = s?.v === 1 ? s : { v: 1, layers: [], chain: EMPTY_CHAIN, clean: false, stats: {}, maxCtimeNs: '0' };
    // A dirty marker outranks the records: they were saved before the change that was cut short.
    if (owned.foundDirty) this.#state.clean = false;
  }

  get chain(): ChainDigest {
    return this.#state.chain;
  }

  /** Record the RUN's process group (undefined when it ended): if this build dies with
   *  kill -9, the next owner of the slot kills what it left running. */
  recordChild(pid: number | undefined): void {
    this.#owned.child(pid);
  }

  /** Let other builds have this slot. The tree stays for the next build. Idempotent. A sync
   *  that no RUN followed saves its records here. */
  release(): void {
    if (this.#unsaved && this.#state.clean) this.#endChange();
    this.#owned.release();
  }

  /** Which slot of its name this workspace is (0 unless another build held the first). */
  get slot(): number {
    return this.#owned.slot;
  }

  #save(): void {
    this.#owned.writeJson('state', this.#state);
  }

  /** Before any change to the tree: the marker first, so a crash at any later instant is seen. */
  #beginChange(): void {
    this.#owned.markDirty();
    this.#state.clean = false;
  }

  /** The records describe the tree again: save them, then drop the marker. */
  #endChange(): void {
    this.#state.clean = true;
    this.#save();
    this.#unsaved = false;
    this.#owned.markClean();
  }

  /** The view the workspace holds according to its records, or undefined when a layer of it
   *  is gone from the store (then the workspace is rebuilt from empty). */
  #recordedView(): UnionView | undefined {
    return mergeChain(this.#state.layers, (d) => this.#store.getLayer(d));
  }

  /**
   * Bring the tree to `target` (the union view of `layers`, whose chain digest is `chain`).
   * Applies only the difference. After an interrupted RUN the tree is first re-read (stats
   * compared, changed files hashed) so that its leftovers are undone.
   */
  sync(layers: LayerDigest[], chain: ChainDigest, target: ViewLike): SyncStats {
    const t0 = performance.now();
    const st = this.#state;
    if (st.clean && st.chain === chain) return { written: 0, removed: 0, ms: 0 };
    const wasClean = st.clean;
    this.#beginChange();
    // The records are trusted: from the chain they name to this one, only the paths of the
    // differing top layers can change (no second merge of the whole chain, when that holds).
    const quick = wasClean ? chainSuffixDiff(st.layers, layers, target, (d) => this.#store.getLayer(d)) : undefined;
    let current: ViewLike | undefined = wasClean && !quick ? this.#recordedView() : undefined;
    if (!current && !quick) {
      const recorded = this.#recordedView();
      if (recorded) current = this.scan(recorded, false).view;
      else {
        this.#owned.reset();
        mkdirSync(this.root, { recursive: true });
        st.stats = {};
        st.unmade = undefined;
        current = new Map();
      }
    }
    const diff = quick ?? diffViews(current!, target);
    const res = this.#apply(diff);
    st.layers = [...layers];
    st.chain = chain;
    // Not saved yet: a RUN follows, and its commit saves the stat rows once (finding 7: each
    // save serializes every row, 58 ms at 53k entries). Until then the marker stays, so a
    // crash here or mid-RUN re-scans against the older records, which is sound: paths the
    // sync wrote have moved stats and are hashed again.
    st.clean = true;
    this.#unsaved = true;
    return { ...res, ms: performance.now() - t0 };
  }

  #apply(entries: LayerEntry[]): { written: number; removed: number } {
    let written = 0;
    let removed = 0;
    const stats = this.#state.stats;
    const forget = (rel: string) => {
      delete stats[rel];
      const prefix = rel + '/';
      for (const k of Object.keys(stats)) if (k.startsWith(prefix)) delete stats[k];
    };
    // Deletions first, deepest paths are covered by their top-most whiteout.
    const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const hasSubtree = sorted.some((e) => e.type === 'whiteout' || e.type === 'opaque');
    for (const e of sorted) {
      const abs = join(this.root, e.path);
      if (e.type === 'whiteout') {
        rmSync(abs, { recursive: true, force: true });
        if (hasSubtree) forget(e.path);
        else delete stats[e.path];
        removed++;
      }
    }
    for (const e of sorted) {
      const abs = join(this.root, e.path);
      switch (e.type) {
        case 'whiteout':
          continue;
        case 'opaque':
          rmSync(abs, { recursive: true, force: true });
          forget(e.path);
          mkdirSync(abs, { recursive: true });
          chmodSync(abs, e.mode);
          break;
        case 'dir': {
          const cur = lstatOrUndefined(abs);
          if (cur && !cur.isDirectory()) {
            unlinkSync(abs);
            forget(e.path);
          }
          if (!cur || !cur.isDirectory()) mkdirSync(abs, { recursive: true });
          chmodSync(abs, e.mode);
          break;
        }
        case 'file':
          clearForLeaf(abs, () => forget(e.path));
          copyFileSync(this.#store.blobPath(e.digest), abs);
          chmodSync(abs, e.mode);
          break;
        case 'symlink':
          clearForLeaf(abs, () => forget(e.path));
          symlinkSync(e.target, abs);
          break;
        case 'hardlink':
          // Its file sorts, and so was written, first; linking moves its ctime: record it again.
          clearForLeaf(abs, () => forget(e.path));
          linkSync(join(this.root, e.target), abs);
          this.#record(e.target, join(this.root, e.target));
          break;
        case 'char':
        case 'block':
        case 'fifo': {
          clearForLeaf(abs, () => forget(e.path));
          const args = e.type === 'fifo' ? [abs, 'p'] : [abs, e.type === 'char' ? 'c' : 'b', String(e.major), String(e.minor)];
          try {
            execFileSync('mknod', ['-m', e.mode.toString(8), ...args], { stdio: 'ignore' });
          } catch {
            // Unprivileged: the node is left out of the tree, and kept in the view (see scan).
            (this.#state.unmade ??= []).push(e.path);
            continue;
          }
          break;
        }
      }
      this.#record(e.path, abs);
      written++;
    }
    return { written, removed };
  }

  #record(rel: string, abs: string): void {
    const s = lstatSync(abs, { bigint: true });
    this.#state.stats[rel] = [String(s.ino), Number(s.size), String(s.mtimeNs), String(s.ctimeNs), Number(s.mode)];
    if (s.ctimeNs > BigInt(this.#state.maxCtimeNs)) this.#state.maxCtimeNs = String(s.ctimeNs);
  }

  /** Mark the tree as about to change (a RUN starts) and wait out the racy clock tick. */
  async beginRun(): Promise<void> {
    // The marker alone says "the tree may differ from the records" (the constructor trusts it
    // over the saved `clean`): no save of every stat row just to flip that flag (finding 7).
    this.#beginChange();
    const probe = join(this.dir, '.clock-probe');
    const newest = BigInt(this.#state.maxCtimeNs);
    for (let i = 0; i < 50; i++) {
      writeFileSync(probe, '');
      if (lstatSync(probe, { bigint: true }).ctimeNs > newest) return;
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /**
   * Walk the tree and build the view it holds. A path whose stat equals the recorded one keeps
   * the entry of `base`; anything else is read (files are hashed, or stored as blobs when
   * `store` is true). Records the new stats.
   */
  scan(base: ViewLike, store: boolean, skip: Set<string> = new Set()): { view: Map<string, ViewEntry>; hashed: number } {
    const view = new Map<string, ViewEntry>();
    const stats: Record<string, StatRow> = {};
    const old = this.#state.stats;
    let hashed = 0;
    let maxC = 0n;
    const visit = (relDir: string, absDir: string) => {
      for (const name of readdirSync(absDir)) {
        const rel = relDir === '' ? name : `${relDir}/${name}`;
        if (skip.has(rel)) continue;
        const abs = `${absDir}/${name}`;
        const s = lstatSync(abs, { bigint: true });
        if (s.ctimeNs > maxC) maxC = s.ctimeNs;
        const r = this.#readEntry(rel, abs, s, base, store, old[rel]);
        stats[rel] = r.row;
        if (r.hashed) hashed++;
        if (r.entry) view.set(rel, r.entry);
        if (s.isDirectory()) visit(rel, abs);
      }
    };
    visit('', this.root);
    // A hardlink group survives only while its paths are still one inode on disk.
    for (const [rel, e] of view) {
      if (e.type !== 'file' || e.link === undefined) continue;
      if (stats[rel]?.[0] !== stats[e.link]?.[0] || view.get(e.link)?.type !== 'file') {
        const { link: _, ...plain } = e;
        view.set(rel, plain);
      }
    }
    // Nodes this workspace could not make stay as the base view has them, while their parent
    // directory is still there (a RUN cannot have changed what it could not see).
    const unmade = this.#state.unmade?.filter((rel) => {
      const e = base.get(rel);
      const parent = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
      if (!e || view.has(rel) || (parent !== '' && view.get(parent)?.type !== 'dir')) return false;
      view.set(rel, e);
      return true;
    });
    if (unmade) this.#state.unmade = unmade.length ? unmade : undefined;
    this.#state.stats = stats;
    this.#state.maxCtimeNs = String(maxC);
    return { view, hashed };
  }

  /**
   * The stat row and view entry of one path of the tree (undefined for a socket or fifo, which
   * are not part of a layer). A path whose stat equals `prev` keeps the entry of `base`;
   * anything else is read (files are hashed, or stored as blobs when `store` is true).
   */
  #readEntry(rel: string, abs: string, s: BigIntStats, base: ViewLike, store: boolean, prev: StatRow | undefined): { row: StatRow; entry: ViewEntry | undefined; hashed: boolean } {
    const row: StatRow = [String(s.ino), Number(s.size), String(s.mtimeNs), String(s.ctimeNs), Number(s.mode)];
    const same = prev !== undefined && prev[0] === row[0] && prev[1] === row[1] && prev[2] === row[2] && prev[3] === row[3] && prev[4] === row[4];
    const mode = Number(s.mode & 0o7777n);
    // The host tree holds no owners or xattrs of the image (an unprivileged user cannot set
    // them): a path that keeps its type (and, for a file, its content) keeps the base's.
    const was = base.get(rel);
    const known = same ? was : undefined;
    if (s.isDirectory()) {
      // The base's own object when nothing changed: no copy per dir, and the diff after
      // the walk finds it unchanged at once.
      return { row, hashed: false, entry: was?.type === 'dir' && was.mode === mode ? was : withMeta<ViewEntry>({ type: 'dir', mode }, was?.type === 'dir' ? was : {}) };
    }
    if (known && known.type !== 'dir') return { row, hashed: false, entry: known };
    if (s.isSymbolicLink()) return { row, hashed: false, entry: withMeta<ViewEntry>({ type: 'symlink', mode, target: readlinkSync(abs) }, was?.type === 'symlink' ? was : {}) };
    if (s.isFile()) {
      const h = store ? this.#store.writeBlobFromFile(abs) : hashFileSync(abs);
      const digest = asBlobDigest(h.digest);
      const sameContent = was?.type === 'file' && was.digest === digest;
      const entry = withMeta<ViewEntry & { type: 'file' }>({ type: 'file', mode, size: h.size, digest }, sameContent ? was : {});
      if (sameContent && was.link !== undefined) entry.link = was.link;
      return { row, hashed: true, entry };
    }
    // Sockets and FIFOs left by a RUN are not part of a layer.
    return { row, hashed: false, entry: undefined };
  }

  /**
   * After a successful RUN: the layer the RUN made, relative to `before` (the view it started
   * from). Blobs for new and changed files are written to the store during the walk.
   */
  snapshot(before: ViewLike, skip?: Set<string>): { entries: LayerEntry[]; hashed: number; after: Map<string, ViewEntry> } {
    const { view, hashed } = this.scan(before, true, skip);
    return { entries: diffViews(before, view), hashed, after: view };
  }

  /**
   * After a successful RUN over an overlay of this tree (host-tools, engine/sandbox/executor.ts):
   * apply the upper to the tree and make the layer from the changed paths only. `changes` are
   * the upper's paths, sorted, with whiteouts and opaque dirs classified as the sandbox's
   * snapshot does. Unchanged paths were not touched by the RUN (its writes went to the upper):
   * they keep their stat rows and their entries of `before`, which is what a full walk would
   * find, so the layer is the one `snapshot` makes. Files and symlinks are renamed out of the
   * upper (a copy when the rename fails); the marker set by beginRun covers the whole apply.
   */
  applyUpper(before: ViewLike, upper: string, changes: readonly UpperChange[], skip: ReadonlySet<string> = new Set()): { entries: LayerEntry[]; hashed: number; after: Map<string, ViewEntry> } {
    const skipped = (p: string) => {
      if (!skip.size) return false;
      for (let i = p.length; i > 0; i = p.lastIndexOf('/', i - 1)) if (skip.has(p.slice(0, i))) return true;
      return false;
    };
    /** Tops of the subtrees that left the tree (the path itself included). */
    const gone = new Set<string>();
    const touched: string[] = [];
    let linked = false;
    for (const c of changes) {
      if (skipped(c.path)) continue;
      const abs = `${this.root}/${c.path}`;
      const cur = lstatOrUndefined(abs);
      switch (c.kind) {
        case 'whiteout':
          if (cur) rmSync(abs, { recursive: true, force: true });
          gone.add(c.path);
          continue;
        case 'opaque':
          if (cur) rmSync(abs, { recursive: true, force: true });
          gone.add(c.path);
          mkdirSync(abs);
          chmodSync(abs, c.mode);
          break;
        case 'dir':
          if (cur && !cur.isDirectory()) {
            unlinkSync(abs);
            gone.add(c.path);
          }
          if (!cur || !cur.isDirectory()) mkdirSync(abs);
          if (!cur || Number(cur.mode & 0o7777n) !== c.mode) chmodSync(abs, c.mode);
          break;
        case 'other':
          if (cur?.isDirectory()) {
            rmSync(abs, { recursive: true, force: true });
            gone.add(c.path);
          }
          if (c.linked) linked = true;
          moveOut(`${upper}/${c.path}`, abs);
          // The snapshot helper adds read permission for a rootless user: the RUN's own mode.
          if (c.file) chmodSync(abs, c.mode);
          break;
      }
      touched.push(c.path);
    }
    const st = this.#state;
    const old = st.stats;
    const after = new Map<string, ViewEntry>();
    let links = linked;
    const under = (p: string) => {
      for (let i = p.length; i > 0; i = p.lastIndexOf('/', i - 1)) if (gone.has(p.slice(0, i))) return true;
      return false;
    };
    /** Paths of `before` that left with a removed subtree: with `touched`, all that can differ. */
    const left: string[] = [];
    for (const k of before.keys()) {
      if (gone.size && under(k)) {
        left.push(k);
        continue;
      }
      const e = before.get(k)!;
      if (e.type === 'file' && e.link !== undefined) links = true;
      after.set(k, e);
    }
    if (gone.size) for (const k of Object.keys(old)) if (under(k)) delete old[k];
    // Stat'ed after every change is applied: a directory's own stat moves with its children.
    let hashed = 0;
    let maxC = BigInt(st.maxCtimeNs);
    for (const rel of touched) {
      const abs = `${this.root}/${rel}`;
      const s = lstatSync(abs, { bigint: true });
      if (s.ctimeNs > maxC) maxC = s.ctimeNs;
      const r = this.#readEntry(rel, abs, s, before, true, old[rel]);
      old[rel] = r.row;
      if (r.hashed) hashed++;
      if (r.entry) after.set(rel, r.entry);
      else after.delete(rel);
    }
    if (links) {
      // As after a walk: a hardlink group survives only while its paths are still one inode.
      for (const [rel, e] of after) {
        if (e.type !== 'file' || e.link === undefined) continue;
        if (old[rel]?.[0] !== old[e.link]?.[0] || after.get(e.link)?.type !== 'file') {
          const { link: _, ...plain } = e;
          after.set(rel, plain);
        }
      }
    }
    if (st.unmade) {
      // Nodes this workspace could not make stay, unless the RUN put something there or their
      // directory went (as the walk decides).
      const made = new Set(touched);
      const unmade = st.unmade.filter((rel) => {
        if (made.has(rel) || !after.has(rel)) return false;
        const parent = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
        if (parent !== '' && after.get(parent)?.type !== 'dir') {
          after.delete(rel);
          return false;
        }
        return true;
      });
      st.unmade = unmade.length ? unmade : undefined;
    }
    st.maxCtimeNs = String(maxC);
    // Without hardlink groups (whose members change with their head) the diff is taken over
    // the changed paths only, by diffViews's rules; with them, over the whole views.
    return { entries: links ? diffViews(before, after) : diffPaths(before, after, [...touched, ...left]), hashed, after };
  }

  /** Record that the tree now holds `layers` (after a snapshot). */
  commit(layers: LayerDigest[], chain: ChainDigest): void {
    this.#state.layers = [...layers];
    this.#state.chain = chain;
    this.#endChange();
  }

  /** Throw the tree away (a cancelled or failed RUN); the next sync re-reads it. */
  markDirty(): void {
    this.#beginChange();
    this.#save();
  }

  exists(rel: string): boolean {
    return existsSync(join(this.root, rel));
  }
}


/** Make room for a file or symlink at `abs`: remove what is there (a directory with its
 *  subtree, then `onSubtreeGone`), or create the parent directories when nothing is. */
function clearForLeaf(abs: string, onSubtreeGone: () => void): void {
  const cur = lstatOrUndefined(abs);
  if (cur?.isDirectory()) {
    rmSync(abs, { recursive: true, force: true });
    onSubtreeGone();
  } else if (cur) unlinkSync(abs);
  else mkdirSync(join(abs, '..'), { recursive: true });
}

/** diffViews(from, to) when only `paths` can differ and no entry is part of a hardlink group. */
function diffPaths(from: ViewLike, to: ViewLike, paths: readonly string[]): LayerEntry[] {
  const out: LayerEntry[] = [];
  const seen = new Set<string>();
  for (const path of paths) {
    if (seen.has(path)) continue;
    seen.add(path);
    const was = from.get(path);
    const now = to.get(path);
    if (now) {
      if (!(was !== undefined && (was === now || sameViewEntry(was, now)))) out.push(toLayerEntry(path, now));
    } else if (was) {
      const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
      if (parent === '' || to.get(parent)?.type === 'dir') out.push({ path, type: 'whiteout' });
    }
  }
  return out.sort((a, b) => compareLayerPaths(a.path, b.path));
}

/** Move a leaf of an overlay's upper into the tree (same filesystem: a rename); a copy
 *  when it cannot be renamed (another filesystem), a new symlink for a symlink. */
function moveOut(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    const s = lstatSync(from);
    if (s.isSymbolicLink()) symlinkSync(readlinkSync(from), to);
    else {
      copyFileSync(from, to);
      chmodSync(to, s.mode & 0o7777);
    }
  }
}

function lstatOrUndefined(p: string): BigIntStats | undefined {
  try {
    return lstatSync(p, { bigint: true });
  } catch {
    return undefined;
  }
}
