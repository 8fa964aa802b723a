/**
 * File-tree helpers for the benchmarks: copy a context to a scratch directory (so the user's
 * own files are never modified), touch every file, and change one file in a way that can be
 * undone exactly. Engine-free: nothing here imports from engine/ or cache/.
 */
import { chmodSync, closeSync, copyFileSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, readlinkSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';

export interface CopyTreeStats {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
}

/**
 * Copy `src` to `dest` (which must not exist yet): regular files with their mode and mtime,
 * directories with their mode, symlinks as symlinks (an absolute target inside `src` is
 * rewritten to the same place inside `dest`). Sockets, FIFOs and devices are skipped, as a
 * build skips them. `skip(rel, isDir)` leaves out a path (and, for a directory, all beneath it).
 */
export function copyTree(src: string, dest: string, skip: (rel: string, isDir: boolean) => boolean = () => false): CopyTreeStats {
  const stats: CopyTreeStats = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  const dirModes: [string, number, Date, Date][] = [];
  const visit = (rel: string) => {
    const from = rel === '' ? src : join(src, rel);
    const to = rel === '' ? dest : join(dest, rel);
    const st = lstatSync(from);
    if (st.isDirectory()) {
      if (rel !== '' && skip(rel, true)) return;
      mkdirSync(to, { recursive: rel === '' });
      stats.dirs++;
      dirModes.push([to, st.mode & 0o7777, st.atime, st.mtime]);
      for (const name of readdirSync(from).sort()) visit(rel === '' ? name : `${rel}/${name}`);
    } else if (st.isFile()) {
      if (skip(rel, false)) return;
      copyFileSync(from, to);
      chmodSync(to, st.mode & 0o7777);
      utimesSync(to, st.atime, st.mtime);
      stats.files++;
      stats.bytes += st.size;
    } else if (st.isSymbolicLink()) {
      if (skip(rel, false)) return;
      let target = readlinkSync(from);
      if (isAbsolute(target) && (target === src || target.startsWith(src + sep))) target = join(dest, relative(src, target));
      symlinkSync(target, to);
      stats.symlinks++;
    }
  };
  visit('');
  // Directory modes and mtimes last, deepest first: a read-only directory would block its
  // children, and creating children moves a directory's mtime.
  for (const [p, mode, atime, mtime] of dirModes.reverse()) {
    chmodSync(p, mode);
    utimesSync(p, atime, mtime);
  }
  return stats;
}

/** Every regular file beneath `root` (absolute paths, sorted). */
export function listFiles(root: string): string[] {
  const out: string[] = [];
  const visit = (dir: string) => {
    for (const d of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(dir, d.name);
      if (d.isDirectory()) visit(p);
      else if (d.isFile()) out.push(p);
    }
  };
  visit(root);
  return out;
}

/** Set the mtime (and atime) of every file to `when`: the "touch" scenario. */
export function touchAll(files: readonly string[], when: Date = new Date()): void {
  for (const f of files) utimesSync(f, when, when);
}

/** Changes made by every Mutation of this process: each one's count of newlines is new. */
let serial = 0;

/**
 * A file changed and restored over and over: `change()` appends a different number of
 * newlines each time, counted over all mutations of the process (so every change is new
 * content, never one a store of this process has seen), and `restore()` puts back the
 * original bytes and mtime (to the microsecond). Trailing newlines are the change least
 * likely to break a build: shells strip them in `$(cat f)`, and most text formats ignore them.
 */
export class Mutation {
  readonly path: string;
  readonly #original: Buffer;
  /** Seconds as doubles: utimes keeps them to within a microsecond (Dates only to the ms). */
  readonly #atime: number;
  readonly #mtime: number;
  #changed = false;
  constructor(path: string) {
    this.path = path;
    this.#original = readFileSync(path);
    const st = statSync(path, { bigint: true });
    this.#atime = Number(st.atimeNs) / 1e9;
    this.#mtime = Number(st.mtimeNs) / 1e9;
  }
  change(): void {
    serial++;
    writeFileSync(this.path, Buffer.concat([this.#original, Buffer.from('\n'.repeat(serial))]));
    this.#changed = true;
  }
  restore(): void {
    if (!this.#changed) return;
    writeFileSync(this.path, this.#original);
    utimesSync(this.path, this.#atime, this.#mtime);
    this.#changed = false;
  }
}

/** True when the first 8 KiB of a file hold no NUL byte (a text file, as git guesses it). */
export function looksLikeText(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(8192);
    const n = readSync(fd, head, 0, head.length, 0);
    return !head.subarray(0, n).includes(0);
  } finally {
    closeSync(fd);
  }
}
