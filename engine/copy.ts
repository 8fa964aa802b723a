/**
 * COPY and ADD: the layer a copy makes, computed without a workspace. From the context the
 * entries come straight from the context's fingerprints; from another stage or an image they
 * reuse that view's entries (same blobs, nothing is read or written).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { posix } from 'node:path';
import type { BlobDigest } from '../cache/digest.js';
import type { LayerEntry, ViewEntry } from '../cache/layer-types.js';
import type { Heredoc, Instruction } from './dockerfile/types.js';
import type { ContextReader, CtxEntry, SourceMatch } from './context.js';
import { createMatcher, type IgnoreMatcher } from './dockerignore.js';
import { hasGlob, segmentRegExp } from './glob.js';
import { fileListOf, FileListWriter, type FileList, type FileRow } from './step-key.js';
import type { ViewLike } from './workspace.js';
import { toLayerEntry } from './layer-diff.js';
import type { RemoteFile } from './add-url.js';

type CopyInstr = Extract<Instruction, { kind: 'COPY' | 'ADD' }>;

export interface CopyResult {
  /** Fingerprints of the context sources, sorted: the key's `files` (none for COPY --from). */
  files?: FileList;
  entries: LayerEntry[];
  /** Context files whose content must be in the store before the layer is committed. */
  blobs: { abs: string; digest: BlobDigest; size: number }[];
  /** Heredoc bodies to store as blobs. */
  inline: { path: string; content: string }[];
  /** Paths selected from a source view (COPY --from), for the key. */
  fromPaths?: string[];
}

export class CopyError extends Error {
  constructor(message: string, readonly hint: string) {
    super(message);
    this.name = 'CopyError';
  }
}


/**
 * A `COPY --parents` source: the pattern to match, and the leading directories its matches
 * do not keep. BuildKit's pivot: a `.` segment after the first (`./x/./y/*.txt`) marks where
 * the kept path starts (`y/…`); without one the whole context path is kept.
 */
function parentsSource(source: string): { pattern: string; strip: string } {
  const segs = source.replace(/\\/g, '/').split('/');
  let pivot = -1;
  for (let i = segs.length - 1; i > 0; i--) {
    if (segs[i] === '.') {
      pivot = i;
      break;
    }
  }
  if (pivot < 0) return { pattern: source, strip: '' };
  const strip = posix.normalize('/' + segs.slice(0, pivot).join('/')).replace(/^\/+/, '').replace(/\/+$/, '');
  return { pattern: [...segs.slice(0, pivot), ...segs.slice(pivot + 1)].join('/'), strip };
}

/** A matched path as --parents keeps it: below the pivot ('' for the pivot itself). */
const kept = (rel: string, strip: string) => (strip === '' ? rel : rel === strip ? '' : rel.slice(strip.length + 1));

/** The directories between the pivot and a kept path `at`: (path under the pivot, path in the source). */
function* parentDirs(at: string, strip: string): Generator<[string, string]> {
  for (let i = at.indexOf('/'); i >= 0; i = at.indexOf('/', i + 1)) {
    const under = at.slice(0, i);
    yield [under, strip === '' ? under : `${strip}/${under}`];
  }
}

/** Parse `--chmod` (octal only, as BuildKit without labs). */
export function parseChmod(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-7]{3,4}$/.test(v)) throw new CopyError(`invalid --chmod value "${v}"`, 'use an octal mode such as 755 or 0644');
  return parseInt(v, 8);
}

/** Destination of a copy relative to the image root ('' is the root), and whether it names a directory. */
function destination(ins: CopyInstr, workdir: string, nSources: number, below: ViewLike): { rel: string; readonly isDir: boolean } {
  const abs = posix.resolve(workdir || '/', ins.dest);
  const rel = abs.replace(/^\/+/, '');
  let isDir: boolean | undefined = ins.dest.endsWith('/') || ins.dest === '.' || ins.dest.endsWith('/.') || nSources > 1 || rel === '' ? true : undefined;
  // Read from the view below only when asked: a key needs no layer below (a --cache-from hit
  // on an image base downloads nothing for it), the layer's entries do.
  return {
    rel,
    get isDir() {
      return (isDir ??= below.get(rel)?.type === 'dir');
    },
  };
}

const join = (a: string, b: string) => (a === '' ? b : b === '' ? a : `${a}/${b}`);

function heredocSources(ins: CopyInstr): { sources: string[]; docs: Heredoc[] } {
  const byName = new Map(ins.heredocs.map((h) => [h.name, h]));
  const docs: Heredoc[] = [];
  const sources: string[] = [];
  for (const s of ins.sources) {
    const m = /^<<-?(.+)$/.exec(s);
    const name = m?.[1]?.replace(/^["']|["']$/g, '');
    const doc = name !== undefined ? byName.get(name) : undefined;
    if (doc) docs.push(doc);
    else sources.push(s);
  }
  return { sources, docs };
}

function heredocBody(h: Heredoc): string {
  return h.chomp ? h.content.replace(/^\t+/gm, '') : h.content;
}

/** The layer of a COPY/ADD from the build context (and heredocs). */
export function copyFromContext(ins: CopyInstr, workdir: string, ctx: ContextReader, below: ViewLike, remote?: ReadonlyMap<string, RemoteFile>): CopyResult {
  const chmod = parseChmod(ins.chmod);
  const { sources: all, docs } = heredocSources(ins);
  const urls: RemoteFile[] = [];
  const sources = all.filter((s) => {
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) return true;
    const r = ins.kind === 'ADD' ? remote?.get(s) : undefined;
    if (!r) {
      throw new CopyError(
        `${ins.kind} from a URL (${s}) is not supported${ins.kind === 'ADD' ? ' for this scheme' : ''}`,
        ins.kind === 'COPY' ? 'use ADD for a remote file (COPY takes files of the build context only)' : 'ADD downloads http:// and https:// URLs; download anything else into the build context first',
      );
    }
    urls.push(r);
    return false;
  });
  // --parents: each match keeps its path below its source's pivot (the context root without one).
  const tops = sources.flatMap((s) => {
    if (!ins.parents) return ctx.matches(s).map((m) => ({ ...m, strip: '' }));
    const { pattern, strip } = parentsSource(s);
    return ctx.matches(pattern).map((m) => ({ ...m, strip }));
  });
  const exclude = ins.exclude.length ? createMatcher(ins.exclude, '--exclude') : undefined;
  const dest = destination(ins, workdir, ins.parents ? Infinity : tops.length + docs.length + urls.length, below);
  // One directory (`COPY src/ ./src/`, `COPY . .`): its rows come sorted from the walk and are
  // hashed as they come, with no entry kept per file.
  const only = !ins.parents && tops.length === 1 && docs.length === 0 && urls.length === 0 && tops[0]!.top.type === 'dir' ? tops[0]! : undefined;
  if (only) return copyTree(only, ctx, exclude, chmod, dest, below);
  const matches: (SourceMatch & { strip: string })[] = tops.map((m) => ({ ...m, children: m.top.type === 'dir' ? ctx.walk(m.base) : [] }));
  /** Every (source, target) of the copy, in order; `dirTarget` for a directory source's destination. */
  const each = (visit: (src: CtxEntry, target: () => string) => void, dirTarget: (m: SourceMatch) => void) => {
    for (const m of matches) {
      // --parents: the directories between the pivot and the match, with their own modes.
      const at = ins.parents ? kept(m.top.rel, m.strip) : '';
      for (const [under, rel] of parentDirs(at, m.strip)) {
        const dir = ctx.entry(rel);
        if (dir?.type === 'dir') visit(dir, () => join(dest.rel, under));
      }
      if (m.top.type === 'dir') {
        if (at !== '') visit(m.top, () => join(dest.rel, at));
        else dirTarget(m);
        for (const c of m.children) {
          const inner = m.base === '' ? c.rel : c.rel.slice(m.base.length + 1);
          if (exclude?.ignores(inner)) continue;
          visit(c, () => join(dest.rel, join(at, inner)));
        }
      } else if (ins.parents) {
        visit(m.top, () => join(dest.rel, at));
      } else {
        visit(m.top, () => (dest.isDir ? join(dest.rel, posix.basename(m.top.rel)) : dest.rel));
      }
    }
  };
  // The key needs the rows only; the layer's entries and blobs are built on first use (a miss),
  // so a hit neither allocates 10k entries nor reads the view below for the destination.
  const rows = new Map<string, FileRow>();
  each(
    (src, target) => {
      // The root itself is never an entry. A target is '' only when the destination is the
      // root (which is a directory without asking the view below).
      if (dest.rel === '' && target() === '') return;
      if (src.type === 'file') rows.set(src.rel, [src.rel, 'f', src.mode, src.digest!]);
      else if (src.type === 'dir') rows.set(src.rel, [src.rel, 'd', src.mode, '']);
      else rows.set(src.rel, [src.rel, 'l', src.mode, src.target!]);
    },
    (m) => rows.set(m.top.rel, [m.top.rel, 'd', m.top.mode, '']),
  );
  let layer: { entries: LayerEntry[]; blobs: CopyResult['blobs'] } | undefined;
  const build = () => {
    const entries = new Map<string, LayerEntry>();
    const blobs = new Map<string, { abs: string; digest: BlobDigest; size: number }>();
    each(
      (src, lazyTarget) => {
        const target = lazyTarget();
        if (target === '') return;
        const mode = chmod ?? src.mode;
        if (src.type === 'file') {
          entries.set(target, { path: target, type: 'file', mode, size: src.size, digest: src.digest! });
          blobs.set(src.digest!, { abs: src.abs, digest: src.digest!, size: src.size });
        } else if (src.type === 'dir') entries.set(target, { path: target, type: 'dir', mode });
        else entries.set(target, { path: target, type: 'symlink', mode: 0o777, target: src.target! });
      },
      // A directory's contents go into the destination; the destination dir is created.
      () => {
        if (dest.rel !== '' && below.get(dest.rel)?.type !== 'dir') entries.set(dest.rel, { path: dest.rel, type: 'dir', mode: chmod ?? 0o755 });
      },
    );
    // Downloaded already (engine/add-url.ts): in the store, so no blob to write.
    for (const r of urls) {
      const target = dest.isDir ? join(dest.rel, r.name) : dest.rel;
      if (target !== '') entries.set(target, { path: target, type: 'file', mode: chmod ?? 0o600, size: r.size, digest: r.digest });
    }
    return { entries: [...entries.values()], blobs: [...blobs.values()] };
  };
  // A remote file's row: its URL and its content (the name it gets under a directory is in
  // the key's instruction: engine/steps/copy-step.ts).
  for (const r of urls) rows.set(r.url, [r.url, 'f', chmod ?? 0o600, r.digest]);
  const inline: { path: string; content: string }[] = [];
  for (const h of docs) {
    const target = dest.isDir ? join(dest.rel, h.name) : dest.rel;
    const content = heredocBody(h);
    rows.set(`<<${h.name}`, [`<<${h.name}`, 'f', 0o644, content]);
    inline.push({ path: target, content });
  }
  return {
    files: fileListOf([...rows.values()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))),
    get entries() {
      return (layer ??= build()).entries;
    },
    get blobs() {
      return (layer ??= build()).blobs;
    },
    inline,
  };
}


/**
 * The copy of one context directory, keyed while it is walked: each row goes into the
 * FileList's hash in sorted order (ContextReader.each), and only a file's size is kept beside
 * it; the layer's entries and blobs are made from the list's rows on first use (a miss). Same
 * rows, same digest as the general path: the directory's own row at its place among its
 * children, a child with the same path (a symlink followed into its own parent) in its stead.
 */
function copyTree(m: Omit<SourceMatch, 'children'>, ctx: ContextReader, exclude: IgnoreMatcher | undefined, chmod: number | undefined, dest: { rel: string }, below: ViewLike): CopyResult {
  const list = new FileListWriter({ keepRows: ctx.retains });
  /** Per row: the file's size (0 for others); the top's row is `topAt`. */
  const sizes: number[] = [];
  const top = m.top;
  let topAt = -1;
  let topDone = false;
  const topRow = () => {
    topDone = true;
    topAt = list.count;
    list.add(top.rel, 'd', top.mode, '');
    sizes.push(0);
  };
  const cut = m.base === '' ? 0 : m.base.length + 1;
  ctx.each(m.base, (c) => {
    if (exclude?.ignores(c.rel.slice(cut))) return;
    if (!topDone && c.rel >= top.rel) {
      if (c.rel === top.rel) topDone = true;
      else topRow();
    }
    if (c.type === 'file') list.add(c.rel, 'f', c.mode, c.digest!);
    else if (c.type === 'dir') list.add(c.rel, 'd', c.mode, '');
    else list.add(c.rel, 'l', c.mode, c.target!);
    sizes.push(c.size);
  });
  if (!topDone) topRow();
  const files = list.finish();
  let layer: { entries: LayerEntry[]; blobs: CopyResult['blobs'] } | undefined;
  const build = () => {
    const entries: LayerEntry[] = [];
    const blobs = new Map<string, { abs: string; digest: BlobDigest; size: number }>();
    // A directory's contents go into the destination; the destination dir is created.
    if (dest.rel !== '' && below.get(dest.rel)?.type !== 'dir') entries.push({ path: dest.rel, type: 'dir', mode: chmod ?? 0o755 });
    files.eachRow(([rel, type, mode, d], i) => {
      if (i === topAt) return;
      const target = join(dest.rel, rel.slice(cut));
      if (type === 'f') {
        const digest = d as BlobDigest;
        entries.push({ path: target, type: 'file', mode: chmod ?? mode, size: sizes[i]!, digest });
        blobs.set(digest, { abs: ctx.absPath(rel), digest, size: sizes[i]! });
      } else if (type === 'd') entries.push({ path: target, type: 'dir', mode: chmod ?? mode });
      else entries.push({ path: target, type: 'symlink', mode: 0o777, target: d });
    });
    return { entries, blobs: [...blobs.values()] };
  };
  return {
    files,
    get entries() {
      return (layer ??= build()).entries;
    },
    get blobs() {
      return (layer ??= build()).blobs;
    },
    inline: [],
  };
}

/** Paths of a view that a COPY --from source selects: the match and, for a dir, everything beneath. */
function selectInView(view: ViewLike, source: string): { top: string; entry: ViewEntry }[] {
  const norm = posix.normalize('/' + source).replace(/^\/+/, '').replace(/\/+$/, '');
  if (norm === '' || norm === '.') return [{ top: '', entry: { type: 'dir', mode: 0o755 } }];
  const segs = norm.split('/');
  if (!segs.some(hasGlob)) {
    const e = view.get(norm);
    return e ? [{ top: norm, entry: e }] : [];
  }
  const res = segs.map((s) => (hasGlob(s) ? segmentRegExp(s) : null));
  const out: { top: string; entry: ViewEntry }[] = [];
  for (const [path, entry] of view.entries()) {
    const parts = path.split('/');
    if (parts.length !== segs.length) continue;
    if (parts.every((p, i) => (res[i] ? res[i]!.test(p) : p === segs[i]))) out.push({ top: path, entry });
  }
  return out.sort((a, b) => (a.top < b.top ? -1 : 1));
}

/** The layer of a COPY --from=<stage|image>: entries reuse the source view's blobs. */
export function copyFromView(ins: CopyInstr, workdir: string, src: ViewLike, below: ViewLike): CopyResult {
  const chmod = parseChmod(ins.chmod);
  const matches = ins.sources.flatMap((s) => {
    const { pattern, strip } = ins.parents ? parentsSource(s) : { pattern: s, strip: '' };
    const m = selectInView(src, pattern);
    if (!m.length) throw new CopyError(`COPY --from=${ins.from} source "${s}" not found in that stage`, 'check the path: it is absolute in the source stage (relative paths start at its root)');
    return m.map((x) => ({ ...x, strip }));
  });
  const dest = destination(ins, workdir, ins.parents ? Infinity : matches.length, below);
  // The key needs `fromPaths` only: the entries (a walk of the whole source view) are built on
  // first use, so a hit never merges the source stage's view (finding 8: ~60 ms of a warm
  // 10k-file build).
  const exclude = ins.exclude.length ? createMatcher(ins.exclude, '--exclude') : undefined;
  const build = (): LayerEntry[] => {
    const entries = new Map<string, LayerEntry>();
    const put = (target: string, e: ViewEntry) => {
      if (target === '') return;
      if (e.type === 'file') entries.set(target, { path: target, type: 'file', mode: chmod ?? e.mode, size: e.size, digest: e.digest });
      else if (e.type === 'dir') entries.set(target, { path: target, type: 'dir', mode: chmod ?? e.mode });
      else if (e.type === 'symlink') entries.set(target, { path: target, type: 'symlink', mode: e.mode, target: e.target });
      else {
        // Devices and fifos: like files, owned by root in the copy unless --chown says otherwise.
        const { uid: _u, gid: _g, ...rest } = toLayerEntry(target, e) as LayerEntry & { uid?: number; gid?: number };
        entries.set(target, rest as LayerEntry);
      }
    };
    // Paths in no particular order (putLayer sorts the layer): a UnionView's entries() would
    // sort all 13k paths of the bench's build stage to select its dist/.
    let all: string[] | undefined;
    for (const m of matches) {
      // --parents: the path below the pivot, and the source's directories on the way.
      const at = ins.parents ? kept(m.top, m.strip) : '';
      for (const [under, path] of parentDirs(at, m.strip)) {
        const e = src.get(path);
        if (e?.type === 'dir') put(join(dest.rel, under), e);
      }
      if (m.entry.type === 'dir') {
        if (at !== '') put(join(dest.rel, at), m.entry);
        else if (dest.rel !== '' && below.get(dest.rel)?.type !== 'dir') entries.set(dest.rel, { path: dest.rel, type: 'dir', mode: chmod ?? 0o755 });
        const prefix = m.top === '' ? '' : m.top + '/';
        for (const path of (all ??= [...src.keys()])) {
          if (!path.startsWith(prefix)) continue;
          const inner = path.slice(prefix.length);
          if (exclude?.ignores(inner)) continue;
          put(join(dest.rel, join(at, inner)), src.get(path)!);
        }
      } else if (ins.parents) put(join(dest.rel, at), m.entry);
      else put(dest.isDir ? join(dest.rel, posix.basename(m.top)) : dest.rel, m.entry);
    }
    return [...entries.values()];
  };
  let entries: LayerEntry[] | undefined;
  return {
    get entries() {
      return (entries ??= build());
    },
    blobs: [],
    inline: [],
    fromPaths: matches.map((m) => m.top),
  };
}
