/**
 * The build context as content fingerprints, with a persisted stat cache like git's index
 * (engine/stat-cache.ts): path → (inode, size, mtime, ctime, mode, digest). A file whose stat
 * is unchanged is not read again. The comparison is by stat; the digest it keeps is the file's
 * sha256, the blob name that COPY puts into keys and layers. A file whose mtime or ctime is
 * not safely older than the moment it was hashed is "racy" (git's racy-clean rule) and is
 * re-hashed next time, so a change within the same timestamp tick is never missed. A change
 * that restores size and mtime still moves the ctime, which is compared too.
 *
 * The walk is the floor's walk (readdir + one plain lstat per entry, no BigInt stats): on a
 * warm build it is most of the engine's work.
 *
 * Only what a COPY selects is walked: `COPY package.json ./` stats one file, not the tree.
 */
import { lstatSync, readdirSync, realpathSync, readlinkSync, type Stats } from 'node:fs';
import { join, posix, sep } from 'node:path';
import { hashFileSync } from '../cache/hash.js';
import { asBlobDigest, type BlobDigest } from '../cache/digest.js';
import { StatCache } from './stat-cache.js';
import type { Store } from '../cache/store-types.js';
import type { IgnoreMatcher } from './dockerignore.js';
import { hasGlob, segmentRegExp } from './glob.js';

/** One selected context path. `rel` is relative to the context root. */
export interface CtxEntry {
  rel: string;
  abs: string;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits. */
  mode: number;
  size: number;
  digest?: BlobDigest;
  target?: string;
}

/** One matched COPY source: the path it matched and, for a directory, everything beneath it
 *  (relative to the matched directory, sorted). */
export interface SourceMatch {
  top: CtxEntry;
  /** Context path the children are under (differs from top.rel when a symlink was followed). */
  base: string;
  children: CtxEntry[];
}

export interface ReaderOptions {
  /**
   * Keep every entry seen, so that a later look at the same path does not stat it again
   * (default). Watch mode keeps one reader for its session and re-keys from what it kept; a
   * one-shot build sets it off and holds no entry per context file (see each()).
   */
  retain?: boolean;
}

export class ContextError extends Error {
  constructor(
    readonly code: 'OUTSIDE' | 'NOT_FOUND' | 'BAD_PATTERN' | 'IO',
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'ContextError';
  }
}

/** The store document kind of stat caches (one binary document per context, by real path).
 *  The JSON documents of the same kind (`.json`, before version 3) are no longer read. */
const DOC_KIND = 'contexts';

export class ContextReader {
  readonly root: string;
  readonly #realRoot: string;
  /** `root` normalized, with one trailing `/`: a context path is `#prefix + rel`. */
  readonly #prefix: string;
  readonly #ignore: IgnoreMatcher;
  readonly #store: Store | undefined;
  readonly #cache: StatCache;
  readonly #seen = new Map<string, CtxEntry | null>();
  /** With `retain`: each directory's sorted names, as read (invalidate() drops a changed
   *  path's own listing and its parent's), so a watch re-key reads no unchanged directory. */
  readonly #listings = new Map<string, string[]>();
  /** Directories read (readdir) by this reader: the work the kept listings did not save. */
  listed = 0;
  /** Files hashed (read) in this build: the work the stat cache did not save. */
  hashed = 0;
  statted = 0;
  /** Extra paths (relative) that are never part of the context, e.g. an output dir inside it. */
  readonly #excluded: string[];
  /** Keep every entry seen (see ReaderOptions). */
  readonly #retain: boolean;

  constructor(root: string, ignore: IgnoreMatcher, store?: Store, excluded: string[] = [], opts: ReaderOptions = {}) {
    this.root = root;
    this.#realRoot = realpathSync(root);
    this.#prefix = join(root, '/');
    this.#ignore = ignore;
    this.#store = store;
    this.#excluded = excluded;
    this.#retain = opts.retain ?? true;
    this.#cache = store ? StatCache.decode(store.readBinaryDoc(DOC_KIND, this.#realRoot)) : StatCache.empty();
  }

  /** Whether this reader keeps what it saw (ReaderOptions.retain). */
  get retains(): boolean {
    return this.#retain;
  }

  /** Persist the stat cache if anything was (re)hashed, dropped or looked up out of order. */
  save(): void {
    if (this.#store && this.#cache.dirty) {
      this.#store.writeBinaryDoc(DOC_KIND, this.#realRoot, this.#cache.encode(), { paths: [this.#realRoot] });
      this.#cache.saved();
    }
  }

  /**
   * Forget what was seen at these paths and beneath them (all, without an argument). Watch
   * mode keeps one reader for its session and calls this with the paths the watcher reported,
   * so a re-key stats only what changed instead of the whole context. The stat cache stays.
   */
  invalidate(rels?: Iterable<string>): void {
    if (!rels) {
      this.#seen.clear();
      this.#listings.clear();
      return;
    }
    for (const r of rels) {
      this.#seen.delete(r);
      const prefix = r === '' ? '' : r + '/';
      for (const k of this.#seen.keys()) if (k.startsWith(prefix)) this.#seen.delete(k);
      // A path added, removed or renamed changes its directory's names; a changed directory
      // may hold anything new.
      const slash = r.lastIndexOf('/');
      this.#listings.delete(slash < 0 ? '' : r.slice(0, slash));
      this.#listings.delete(r);
      for (const k of this.#listings.keys()) if (k.startsWith(prefix)) this.#listings.delete(k);
    }
  }

  /** The sorted names in a context directory (kept with `retain`, see #listings). */
  #names(rel: string, abs: string): string[] {
    const kept = this.#listings.get(rel);
    if (kept) return kept;
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch (err) {
      throw new ContextError('IO', `cannot read directory ${abs}: ${(err as Error).message}`, 'check the permissions of the build context');
    }
    this.listed++;
    names.sort();
    if (this.#retain) this.#listings.set(rel, names);
    return names;
  }

  #isExcluded(rel: string): boolean {
    if (this.#ignore.ignores(rel)) return true;
    for (const x of this.#excluded) if (rel === x || rel.startsWith(x + '/')) return true;
    return false;
  }

  /** What entry() last gave for this path, if it was asked since the last invalidate() of
   *  it (undefined: not asked; null: absent then). Stats nothing. */
  peek(rel: string): CtxEntry | null | undefined {
    return this.#seen.get(rel);
  }

  /** Fingerprint one context path (no symlink following). null when absent. */
  entry(rel: string): CtxEntry | null {
    const seen = this.#seen.get(rel);
    if (seen !== undefined) return seen;
    const e = this.#fingerprint(rel);
    if (this.#retain) this.#seen.set(rel, e);
    return e;
  }

  #fingerprint(rel: string): CtxEntry | null {
    // `rel` is a normalized relative path (from a walk or select): no path.join needed.
    const abs = rel === '' ? this.root : this.#prefix + rel;
    let st: Stats | undefined;
    try {
      // throwIfNoEntry: building the ENOENT exception costs more than the stat (finding 3).
      st = lstatSync(abs, { throwIfNoEntry: false });
    } catch {
      st = undefined; // ENOTDIR, EACCES: not there for the build either
    }
    if (!st) return null;
    this.statted++;
    const mode = st.mode & 0o7777;
    if (st.isDirectory()) return { rel, abs, type: 'dir', mode, size: 0 };
    if (st.isSymbolicLink()) return { rel, abs, type: 'symlink', mode, size: 0, target: readlinkSync(abs) };
    if (st.isFile()) return { rel, abs, type: 'file', mode, size: st.size, digest: this.#digest(rel, abs, st) };
    // Sockets, FIFOs, devices: Docker skips them too.
    return null;
  }

  #digest(rel: string, abs: string, st: Stats): BlobDigest {
    const known = this.#cache.lookup(rel, st);
    if (known) return known;
    const now = Date.now();
    const { digest } = hashFileSync(abs);
    this.hashed++;
    this.#cache.set(rel, st, digest, now);
    return asBlobDigest(digest);
  }

  /** Every non-excluded path beneath a directory, sorted (see each()), relative to the context. */
  walk(dirRel: string): CtxEntry[] {
    const out: CtxEntry[] = [];
    this.each(dirRel, (e) => out.push(e));
    return out;
  }

  /**
   * Visit every non-excluded path beneath a directory in the sorted order of whole paths
   * (JavaScript string order, the order of a COPY key's rows), so the key can be hashed as
   * the walk goes. A directory's own path sorts by its name, what it holds by `name/`: a
   * sibling `name.js` comes between the two ('.' < '/'), so a subtree waits until the
   * names before `name/` are done.
   *
   * Without `retain` (a one-shot build) nothing is kept: each entry is seen by the visitor
   * and dropped, and a 200k-file context holds no 200k entries and Map rows until the key is
   * made (the GC of those was ~15% of a warm 200k build).
   */
  each(dirRel: string, visit: (e: CtxEntry) => void): void {
    // Past `decided` segments a path inherits its directory's verdict: with the bench's
    // `*.log` and `tmp/` only top-level names are matched, not 10k paths (the matcher was
    // 21–93 ms of a warm 10k-file build, finding 10).
    const decided = Math.max(this.#ignore.decidedBelow, ...this.#excluded.map((x) => x.split('/').length));
    const mayReinclude = this.#ignore.mayReinclude;
    const visitDir = (rel: string, depth: number, dirExcluded: boolean) => {
      const names = this.#names(rel, rel === '' ? this.root : this.#prefix + rel);
      const childDepth = depth + 1;
      /** Subdirectories not walked yet, sorted by `name/`: [key, rel, excluded]. */
      const waiting: [string, string, boolean][] = [];
      for (const name of names) {
        while (waiting.length && waiting[0]![0] < name) {
          const [, r, x] = waiting.shift()!;
          visitDir(r, childDepth, x);
        }
        const childRel = rel === '' ? name : `${rel}/${name}`;
        const excluded = childDepth > decided ? dirExcluded : this.#isExcluded(childRel);
        if (excluded && !mayReinclude) continue;
        const e = this.entry(childRel);
        if (!e) continue;
        if (!excluded) visit(e);
        if (e.type === 'dir') {
          const key = name + '/';
          let at = waiting.length;
          while (at > 0 && waiting[at - 1]![0] > key) at--;
          waiting.splice(at, 0, [key, childRel, excluded]);
        }
      }
      for (const [, r, x] of waiting) visitDir(r, childDepth, x);
    };
    visitDir(dirRel, dirRel === '' ? 0 : dirRel.split('/').length, dirRel !== '' && this.#isExcluded(dirRel));
    this.#cache.walked(dirRel);
  }

  /** The absolute path of a context path. */
  absPath(rel: string): string {
    return rel === '' ? this.root : this.#prefix + rel;
  }

  /**
   * Resolve one COPY/ADD source as Docker does: relative to the context root (a leading `/`
   * is the root too), wildcards per segment, a symlink in the path followed only while it
   * stays inside the context. Errors name the source and give a hint.
   */
  select(source: string): SourceMatch[] {
    return this.matches(source).map((m) => ({ ...m, children: m.top.type === 'dir' ? this.walk(m.base) : [] }));
  }

  /** select() without the walk: each matched path and the directory its children are under
   *  (walk them with each(base, …)). */
  matches(source: string): Omit<SourceMatch, 'children'>[] {
    const norm = posix.normalize('/' + source.replace(/\\/g, '/')).replace(/^\/+/, '').replace(/\/+$/, '');
    if (source.split(/[\\/]/).includes('..') && escapes(source)) {
      throw new ContextError('OUTSIDE', `COPY source "${source}" is outside the build context`, 'only files inside the context directory can be copied; move the file into the context or pass a larger context');
    }
    const rels = norm === '' || norm === '.' ? [''] : this.#expandGlobs(norm.split('/'), source);
    const out: Omit<SourceMatch, 'children'>[] = [];
    for (const rel of rels) {
      const resolved = this.#resolveInside(rel, source);
      if (resolved !== rel) {
        // The path went through a symlink that stays inside: select the target.
        for (const m of this.matches(resolved)) out.push({ top: { ...m.top, rel }, base: m.base });
        continue;
      }
      if (rel !== '' && this.#isExcluded(rel)) {
        throw new ContextError('NOT_FOUND', `COPY source "${source}" is excluded by ${this.#ignore.source ?? '.dockerignore'}`, 'remove the matching pattern from .dockerignore, or copy another path');
      }
      const top = this.entry(rel);
      if (!top) throw notFound(source);
      out.push({ top, base: rel });
    }
    return out;
  }

  #expandGlobs(segments: string[], source: string): string[] {
    let prefixes = [''];
    for (const seg of segments) {
      if (!hasGlob(seg)) {
        prefixes = prefixes.map((p) => (p === '' ? seg : `${p}/${seg}`));
        continue;
      }
      const re = segmentRegExp(seg);
      if (!re) throw new ContextError('BAD_PATTERN', `COPY source "${source}" has a malformed pattern "${seg}"`, 'wildcards follow Go filepath.Match: *, ?, [a-z], and \\ to escape');
      const next: string[] = [];
      for (const p of prefixes) {
        let names: string[];
        try {
          names = readdirSync(p === '' ? this.root : join(this.root, p));
        } catch {
          continue;
        }
        for (const name of names.sort()) {
          const rel = p === '' ? name : `${p}/${name}`;
          if (re.test(name) && !this.#isExcluded(rel)) next.push(rel);
        }
      }
      prefixes = next;
    }
    if (prefixes.length === 0) throw notFound(source);
    return prefixes;
  }

  /** The path with symlinks resolved, relative to the context; refuses a path that leaves it. */
  #resolveInside(rel: string, source: string): string {
    if (rel === '') return rel;
    let real: string;
    try {
      real = realpathSync(join(this.root, rel));
    } catch {
      return rel; // absent: the caller reports NOT_FOUND
    }
    if (real === this.#realRoot) return '';
    if (!real.startsWith(this.#realRoot + sep)) {
      throw new ContextError('OUTSIDE', `COPY source "${source}" resolves through a symlink to ${real}, outside the build context`, 'copy the file into the context instead of linking to it');
    }
    return real.slice(this.#realRoot.length + 1).split(sep).join('/');
  }
}

function escapes(source: string): boolean {
  let depth = 0;
  for (const seg of source.replace(/\\/g, '/').split('/')) {
    if (seg === '..') depth--;
    else if (seg !== '' && seg !== '.') depth++;
    if (depth < 0) return true;
  }
  return false;
}

function notFound(source: string): ContextError {
  return new ContextError('NOT_FOUND', `COPY source "${source}" not found in the build context`, 'check the path (it is relative to the context directory, not to the Dockerfile) and your .dockerignore');
}
