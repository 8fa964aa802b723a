/**
 * The physical floors each phase is compared with, measured in the same run on the same tree:
 * what the operating system charges for the I/O a phase cannot avoid, with no bookkeeping.
 *
 * - walk: readdir + lstat of every entry (plain numbers, no bigint stats);
 * - read+xxh64: every file read into one reused 64 KiB buffer and hashed (xxhash-wasm, the
 *   same hash as the engine, streamed for large files);
 * - copy: copyFileSync of every file into a fresh tree (directories made as needed).
 *
 * Engine-free: xxhash-wasm is used directly.
 */
import { closeSync, copyFileSync, lstatSync, mkdirSync, openSync, readdirSync, readSync } from 'node:fs';
import { dirname, join } from 'node:path';
import xxhash from 'xxhash-wasm';

const api = await xxhash();
const CHUNK = 64 * 1024;
const buf = Buffer.allocUnsafe(CHUNK);

/** readdir + lstat of everything beneath `root`; returns the regular files (absolute paths). */
export function walkFloor(root: string): string[] {
  const files: string[] = [];
  const visit = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = lstatSync(p);
      if (st.isDirectory()) visit(p);
      else if (st.isFile()) files.push(p);
    }
  };
  visit(root);
  return files;
}

/** Read and xxh64 every file; returns the bytes read. */
export function hashFloor(files: readonly string[]): number {
  let bytes = 0;
  for (const f of files) {
    const fd = openSync(f, 'r');
    try {
      let n = readSync(fd, buf, 0, CHUNK, null);
      if (n < CHUNK) api.h64Raw(buf.subarray(0, n));
      else {
        const h = api.create64();
        while (n > 0) {
          h.update(n === CHUNK ? buf : buf.subarray(0, n));
          bytes += n;
          n = readSync(fd, buf, 0, CHUNK, null);
        }
        h.digest();
        continue;
      }
      bytes += n;
    } finally {
      closeSync(fd);
    }
  }
  return bytes;
}

/** Copy `pairs` ([from, relative to]) into `dest` with copyFileSync, making directories as needed. */
export function copyFloor(pairs: readonly (readonly [string, string])[], dest: string): void {
  const made = new Set<string>();
  for (const [from, rel] of pairs) {
    const to = join(dest, rel);
    const dir = dirname(to);
    if (!made.has(dir)) {
      mkdirSync(dir, { recursive: true });
      made.add(dir);
    }
    copyFileSync(from, to);
  }
}
