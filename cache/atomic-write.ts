/**
 * Atomic writes: every file of the store is written to `<root>/tmp/<pid>-<random>` (opened
 * with `wx`, so nothing that exists is ever reused) and renamed into place. A reader, or a
 * crash, sees the old file or the complete new one, never a torn one. The temp file is
 * removed in `finally` when the write did not complete; a crash can still leave one behind,
 * which `verify` removes once its writer is gone (the pid is in the name).
 *
 * No fsync: the store is a cache. After a power cut an entry may be lost or, on some file
 * systems, empty; reads verify what they read, and an empty or bad entry is a miss.
 */
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import * as sfs from './fs.js';

/** Directories known to exist, so each is created at most once per store object. */
export class Dirs {
  private readonly known = new Set<string>();
  ensure(dir: string): void {
    if (this.known.has(dir)) return;
    sfs.mkdirp(dir);
    this.known.add(dir);
  }
  /** Forget everything (after something may have removed directories). */
  forget(): void {
    this.known.clear();
  }
}

/** `<pid>-<12 hex>`: the pid lets verify tell a live writer's temp file from a crashed one's. */
export function tempName(): string {
  // A random per-process base plus a counter: unique, and the same `<pid>-<12 hex>` shape
  // tempOwner() parses, without randomBytes() per write (9% of blob-write time, finding 4).
  tempCounter = (tempCounter + 1) % 0x1000000;
  return `${process.pid}-${tempBase}${tempCounter.toString(16).padStart(6, '0')}`;
}
let tempBase = '';
let tempCounter = 0;
tempBase = randomBytes(3).toString('hex');

/** The writer pid encoded in a temp file name, or undefined when the name is not ours. */
export function tempOwner(name: string): number | undefined {
  const m = /^([1-9][0-9]*)-[0-9a-f]{12}$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * Create a temp file, let `fill` write it, then rename it to the path `fill` returns, or
 * drop it when `fill` returns undefined (the entry turned out to exist already).
 * The temp file never outlives this call, unless the process dies.
 */
export function writeViaTemp(dirs: Dirs, tmpDir: string, mode: number, fill: (fd: number, tmp: string) => string | undefined): void {
  dirs.ensure(tmpDir);
  // A template, not join(): tmpDir is the layout's normalized path and the name is plain
  // (join's normalize was ~5% of a blob write).
  const tmp = `${tmpDir}/${tempName()}`;
  const fd = sfs.openExclusive(tmp, mode);
  let open = true;
  let placed = false;
  try {
    const dest = fill(fd, tmp);
    open = false;
    sfs.close(fd, tmp);
    if (dest !== undefined) {
      dirs.ensure(dirname(dest));
      sfs.rename(tmp, dest);
      placed = true;
    }
  } finally {
    // Cleanup must not hide the error that got us here; a leftover is verify's job.
    if (open) ignore(() => sfs.close(fd, tmp));
    if (!placed) ignore(() => sfs.unlink(tmp));
  }
}

/** Write `data` to `dest` atomically. */
export function writeFileAtomic(dirs: Dirs, tmpDir: string, dest: string, data: Uint8Array | string, mode = 0o644): void {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  writeViaTemp(dirs, tmpDir, mode, (fd, tmp) => {
    sfs.writeAll(fd, bytes, tmp);
    return dest;
  });
}

function ignore(fn: () => unknown): void {
  try {
    fn();
  } catch {
    /* see caller */
  }
}
