/**
 * `RUN --mount=type=bind` from the build context: what the step's key covers and what the
 * command sees are the same files.
 *
 * The key holds the fingerprint rows (path, type, mode, content digest) of every context path
 * the RUN binds, exactly as a COPY's key holds its sources', so editing a bound file is a miss
 * whose reason names the file. Without them a RUN that reads a bound file hit the cache after
 * the file changed: a wrong result.
 *
 * The command does not see the context directory itself but a staged copy of the keyed
 * entries, each file's content checked against the digest the key was made from while it is
 * copied. So a file saved while the build runs (watch mode) cannot slip into a layer stored
 * under the key of its old content, a `.dockerignore`d file is not visible (as in BuildKit,
 * where it never reaches the builder). The copy is bound read-only.
 *
 * `from=<stage|image>`: the key holds the chain digest of that stage (or image), as a
 * `COPY --from`'s does, and the command sees a copy of its `source` subtree made from the
 * store's blobs (verified when they entered the store). Owners are not kept: the copy belongs
 * to the RUN's root, as a rootless copy must.
 */
import { chmodSync, closeSync, copyFileSync, mkdirSync, openSync, readFileSync, symlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '../cache/hash.js';
import type { ContextReader, CtxEntry, SourceMatch } from './context.js';
import type { Mount } from './dockerfile/types.js';
import type { FileRow } from './step-key.js';
import type { ViewEntry } from '../cache/layer-types.js';
import type { ViewLike } from './workspace.js';
import { MountError } from './run-mounts.js';

/** The context binds of a RUN: their matched sources, and the fingerprint rows of all of
 *  them, sorted by path (one row per context path, however many mounts name it). */
export function contextBinds(ctx: ContextReader, mounts: readonly Mount[]): { matches: Map<Mount, SourceMatch>; rows: FileRow[] } {
  const matches = new Map<Mount, SourceMatch>();
  const rows = new Map<string, FileRow>();
  for (const m of mounts) {
    if (m.type !== 'bind' || m.from !== undefined) continue;
    const source = m.source ?? '.';
    if (/[*?[]/.test(source)) throw new MountError(`RUN --mount=type=bind source ${source} is a pattern`, 'bind one file or directory of the context (source=path)');
    const found = ctx.select(source);
    if (found.length !== 1) throw new MountError(`RUN --mount=type=bind source ${source} does not exist in the context`, 'check the source= path (relative to the context)');
    const match = found[0]!;
    matches.set(m, match);
    if (match.top.rel !== '') rows.set(match.top.rel, rowOf(match.top));
    for (const c of match.children) rows.set(c.rel, rowOf(c));
  }
  return { matches, rows: [...rows.values()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)) };
}

function rowOf(e: CtxEntry): FileRow {
  if (e.type === 'file') return [e.rel, 'f', e.mode, e.digest!];
  if (e.type === 'dir') return [e.rel, 'd', e.mode, ''];
  return [e.rel, 'l', e.mode, e.target!];
}

/**
 * Copy a matched context source into `dir` (which must not exist yet): the tree (or the one
 * file) the mount binds. Every file's bytes are hashed as they are copied and must be the
 * keyed content; a file that changed since it was fingerprinted fails the step.
 * Returns the path to bind.
 */
export function stageContextBind(match: SourceMatch, dir: string): string {
  const top = match.top;
  if (top.type !== 'dir') {
    mkdirSync(dir, { recursive: true });
    const at = join(dir, 'source');
    place(top, at);
    return at;
  }
  const root = join(dir, 'source');
  mkdirSync(root, { recursive: true, mode: 0o755 });
  const strip = match.base === '' ? 0 : match.base.length + 1;
  // Directories first get their mode last: a read-only directory (0555) must not stop its
  // own children from being written.
  const dirs: [string, number][] = [[root, top.mode]];
  for (const c of match.children) {
    const at = join(root, c.rel.slice(strip));
    if (c.type === 'dir') {
      mkdirSync(at, { mode: 0o700 });
      dirs.push([at, c.mode]);
    } else place(c, at);
  }
  for (let i = dirs.length - 1; i >= 0; i--) chmodSync(dirs[i]![0], dirs[i]![1] & 0o7777);
  return root;
}

function place(e: CtxEntry, at: string): void {
  if (e.type === 'symlink') {
    symlinkSync(e.target!, at);
    return;
  }
  if (e.type === 'dir') {
    mkdirSync(at, { mode: e.mode & 0o7777 });
    return;
  }
  const bytes = readFileSync(e.abs);
  if (sha256(bytes) !== e.digest) {
    throw new MountError(`${e.rel} changed while the build was running (RUN --mount=type=bind)`, 'build again: the step runs with the file as it is then');
  }
  const fd = openSync(at, 'wx', e.mode & 0o7777);
  try {
    writeSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
  chmodSync(at, e.mode & 0o7777);
}

/**
 * Copy `source` (absolute in the stage; '/' for all of it) of a stage's union view into `dir`
 * (which must not exist yet) from the store's blobs. Devices and fifos are left out.
 * Returns the path to bind, or undefined when the view has no such path.
 */
export function stageViewBind(view: ViewLike, source: string, dir: string, blobPath: (e: Extract<ViewEntry, { type: 'file' }>) => string): string | undefined {
  const top = source.replace(/^\/+|\/+$/g, '');
  const root = join(dir, 'source');
  mkdirSync(dir, { recursive: true });
  const entry: ViewEntry | undefined = top === '' ? { type: 'dir', mode: 0o755 } : view.get(top);
  if (!entry) return undefined;
  const put = (e: ViewEntry, at: string, dirs: [string, number][]) => {
    if (e.type === 'file') {
      copyFileSync(blobPath(e), at);
      chmodSync(at, e.mode & 0o7777);
    } else if (e.type === 'symlink') symlinkSync(e.target, at);
    else if (e.type === 'dir') {
      mkdirSync(at, { mode: 0o700 });
      dirs.push([at, e.mode]);
    }
  };
  const dirs: [string, number][] = [];
  if (entry.type !== 'dir') {
    put(entry, root, dirs);
    return root;
  }
  mkdirSync(root, { mode: 0o700 });
  dirs.push([root, entry.mode]);
  const prefix = top === '' ? '' : top + '/';
  // Parents before children: sorted paths.
  const paths = [...view.keys()].filter((p) => p.startsWith(prefix) && p !== top).sort();
  for (const p of paths) put(view.get(p)!, join(root, p.slice(prefix.length)), dirs);
  for (let i = dirs.length - 1; i >= 0; i--) chmodSync(dirs[i]![0], dirs[i]![1] & 0o7777);
  return root;
}
