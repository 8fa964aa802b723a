/**
 * Writing blobs: file contents named by their sha256, hashed while they are copied, written
 * read-only (0o444) through a temp file and a rename, so a blob on disk is always complete
 * and nothing edits one in place.
 *
 * "Already exists" is success: same name, same bytes. The API is synchronous, so within a
 * process two writes of one digest cannot overlap; the in-memory `present` cache is what
 * deduplicates them: a second write of a known digest does no I/O at all.
 */
import { asBlobDigest, type BlobDigest } from './digest.js';
import { createSha256, sha256 } from './hash.js';
import { StoreError } from './store-types.js';
import { tempName, writeViaTemp } from './atomic-write.js';
import { dirname, join } from 'node:path';
import type { StoreState } from './store-state.js';
import * as sfs from './fs.js';

const CHUNK = 64 * 1024;
/** One buffer for every copy: calls are synchronous and never nest. */
const buf = Buffer.allocUnsafe(CHUNK);
export const BLOB_MODE = 0o444;

/** True when the blob is in the store with this size (size unchecked when undefined).
 *  Positive answers are cached; a wrong-size file is treated as absent so it is replaced. */
export function blobPresent(s: StoreState, digest: string, size?: number): boolean {
  const known = s.present.get(digest);
  if (known !== undefined && (size === undefined || known === size)) return true;
  return statPresent(s, digest, size);
}

function statPresent(s: StoreState, digest: string, size: number | undefined): boolean {
  const st = sfs.stat(s.layout.blob(digest));
  if (!st?.isFile() || (size !== undefined && st.size !== size)) return false;
  s.present.set(digest, st.size);
  return true;
}

/**
 * blobPresent for a writer. Once this store object has found LIST_AFTER blobs absent (a bulk
 * write: a cold COPY, an import), a digest that its fan-out folder did not list when first
 * looked at (one readdir per folder per store object; a folder missing from the blob
 * directory's own listing lists nothing) is taken as absent without a stat. The stat of
 * every new blob, twice, was a third of a cold build's blob-write time (bench/findings.md,
 * "Issue 8, cold blob writes"). Stale only towards "absent": a blob another process stored
 * since is written again, the same bytes renamed over the same bytes, as when two writers
 * race past their stats. Readers keep blobPresent, which never trusts a listing.
 */
function storedAlready(s: StoreState, digest: string, size: number | undefined): boolean {
  const known = s.present.get(digest);
  if (known !== undefined && (size === undefined || known === size)) return true;
  if (s.listed.size === 0 && s.absentSeen < LIST_AFTER) {
    if (statPresent(s, digest, size)) return true;
    s.absentSeen++;
    return false;
  }
  return listedIn(s, digest).has(digest) && statPresent(s, digest, size);
}
/** A few writes (an incremental's changed files) stat; a bulk write lists. */
const LIST_AFTER = 64;

function listedIn(s: StoreState, digest: string): Set<string> {
  const fan = digest.slice(0, 2);
  let names = s.listed.get(fan);
  if (!names) {
    // The fan-out folders themselves first: a readdir of a missing folder throws ENOENT,
    // and building that error was ~0.2 ms each, 256 times in a new store.
    let folders = s.listed.get('');
    if (!folders) s.listed.set('', (folders = new Set(sfs.readdir(s.layout.blobDir))));
    // isDigestHex is checked by layout.blob(): no path outside the store is listed.
    names = new Set(folders.has(fan) ? sfs.readdir(dirname(s.layout.blob(digest))) : []);
    s.listed.set(fan, names);
  }
  return names;
}

/**
 * The blobs of `blobs` that a listing of their fan-out folders names are taken as present for
 * the rest of this store object's life (until a deletion bumps the epoch): a COPY that misses
 * because one file of 10k changed then writes only that file's blob, and putLayer's check of
 * the new layer costs no I/O either, where each of the 10k was stat'ed (finding 9). One
 * readdir per folder, made now (a listing from before the last epoch change could name a blob
 * deleted since); names, not sizes, are checked: a blob of the wrong size can only be a corrupt
 * one, which a read finds. A blob not listed is left to the writers, which stat or write it.
 * Returns how many were taken as present.
 */
export function trustListedBlobs(s: StoreState, blobs: readonly { digest: string; size: number }[]): number {
  const fresh = new Set<string>();
  s.listed.delete('');
  let n = 0;
  for (const b of blobs) {
    if (s.present.get(b.digest) === b.size) continue;
    const fan = b.digest.slice(0, 2);
    if (!fresh.has(fan)) {
      s.listed.delete(fan);
      fresh.add(fan);
    }
    if (!listedIn(s, b.digest).has(b.digest)) continue;
    s.present.set(b.digest, b.size);
    n++;
  }
  return n;
}

/** Place a complete temp file under its digest (the caller knows the blob was absent). */
function stored(s: StoreState, digest: BlobDigest, size: number): void {
  s.present.set(digest, size);
  // A folder not listed yet will list it from disk.
  s.listed.get(digest.slice(0, 2))?.add(digest);
}

/** Store bytes under their digest (computed here unless the caller already has it). */
export function writeBlobBytes(s: StoreState, data: Uint8Array, digest = asBlobDigest(sha256(data))): { digest: BlobDigest; size: number } {
  if (!storedAlready(s, digest, data.length)) writeAbsent(s, data, digest);
  return { digest, size: data.length };
}

function writeAbsent(s: StoreState, data: Uint8Array, digest: BlobDigest): void {
  const dest = s.layout.blob(digest);
  writeViaTemp(s.dirs, s.layout.tmpDir, BLOB_MODE, (fd, tmp) => {
    sfs.writeAll(fd, data, tmp);
    return dest;
  });
  stored(s, digest, data.length);
}

function changed(path: string, expect: { digest: BlobDigest; size: number }, found: { digest: string; size: number }): StoreError {
  return new StoreError(
    'ECHANGED',
    `${path} changed while it was being stored (expected ${expect.size} bytes with digest ${expect.digest}, read ${found.size} bytes with digest ${found.digest}); rebuild to pick up the new content`,
    { path, expected: expect, found },
  );
}

/**
 * Copy a file into the store, hashing while copying. With `expect`, a blob already present
 * is not read at all, and bytes that do not match throw ECHANGED and store nothing.
 * A file shorter than 64 KiB takes one read and one hash call; larger ones stream in 64 KiB
 * chunks through one streaming sha256 hasher, so the file is read once for both.
 */
export function writeBlobFromFile(
  s: StoreState,
  path: string,
  expect?: { digest: BlobDigest; size: number },
): { digest: BlobDigest; size: number } {
  if (expect && storedAlready(s, expect.digest, expect.size)) return expect;
  const fd = sfs.openRead(path);
  if (fd === undefined) {
    if (expect) throw changed(path, expect, { digest: '(deleted)', size: 0 });
    throw new StoreError('EIO', `${path} does not exist`, { path, errno: 'ENOENT' });
  }
  try {
    const first = sfs.read(fd, buf, CHUNK, path);
    if (first < CHUNK) {
      const data = buf.subarray(0, first);
      const digest = asBlobDigest(sha256(data));
      if (!expect) return writeBlobBytes(s, data, digest);
      if (digest !== expect.digest || first !== expect.size) throw changed(path, expect, { digest, size: first });
      // Checked absent above, within this synchronous call.
      writeAbsent(s, data, digest);
      return expect;
    }
    let result: { digest: BlobDigest; size: number } | undefined;
    writeViaTemp(s.dirs, s.layout.tmpDir, BLOB_MODE, (out, tmp) => {
      const h = createSha256();
      let size = 0;
      for (let n = first; n > 0; n = sfs.read(fd, buf, CHUNK, path)) {
        const chunk = n === CHUNK ? buf : buf.subarray(0, n);
        h.update(chunk);
        sfs.writeAll(out, chunk, tmp);
        size += n;
      }
      const digest = asBlobDigest(h.digest());
      if (expect && (digest !== expect.digest || size !== expect.size)) throw changed(path, expect, { digest, size });
      result = { digest, size };
      // Someone stored the same bytes meanwhile (or earlier, without `expect`): keep theirs.
      return storedAlready(s, digest, size) ? undefined : s.layout.blob(digest);
    });
    const done = result!;
    stored(s, done.digest, done.size);
    return done;
  } finally {
    sfs.close(fd, path);
  }
}

/**
 * Put a file this process wrote and hashed itself (a download verified while it streamed, a
 * spool file hashed while it was written) into the store under the digest it computed, by a
 * hard link instead of a copy, so the bytes are written and hashed once (bench/findings.md,
 * "`--cache-from` on a fresh machine"). The file must be closed and must not change after
 * this: it becomes the blob (read-only, 0o444); the caller removes its own name for it as
 * usual. Where the two cannot share an inode (another file system), the file is copied and
 * hashed as writeBlobFromFile does, and a mismatch throws ECHANGED.
 *
 * Only the size is checked before the link: the digest is the caller's word. That is why
 * this takes only files the process itself wrote, never a path from outside (a context
 * file, an archive, a local cache directory: those go through writeBlobFromFile).
 */
export function adoptBlobFile(s: StoreState, path: string, known: { digest: BlobDigest; size: number }): { digest: BlobDigest; size: number } {
  if (blobPresent(s, known.digest, known.size)) return known;
  const st = sfs.stat(path);
  if (!st?.isFile() || st.size !== known.size) throw changed(path, known, { digest: '(not read)', size: st?.size ?? 0 });
  sfs.chmod(path, BLOB_MODE);
  // A link under a temp name, then a rename: a wrong-size file at the blob's name (which
  // blobPresent took for absent) is replaced, as writeBlobFromFile replaces it.
  s.dirs.ensure(s.layout.tmpDir);
  const tmp = join(s.layout.tmpDir, tempName());
  if (sfs.tryLink(path, tmp) !== 'linked') return writeBlobFromFile(s, path, known);
  let placed = false;
  try {
    const dest = s.layout.blob(known.digest);
    s.dirs.ensure(dirname(dest));
    sfs.rename(tmp, dest);
    placed = true;
  } finally {
    if (!placed) sfs.unlink(tmp);
  }
  s.present.set(known.digest, known.size);
  return known;
}
