/**
 * Reading blobs, verified: the bytes must hash to the blob's name (and have the expected
 * size, when the caller knows it from a layer entry). A blob that does not is deleted, so
 * the next build writes it again, and the read throws EINTEGRITY with the facts.
 */
import type { BlobDigest } from './digest.js';
import { createSha256, sha256 } from './hash.js';
import { StoreError } from './store-types.js';
import { bumpEpoch, type StoreState } from './store-state.js';
import * as sfs from './fs.js';

/** Whether the blob file exists (always asks the disk; records a positive answer). */
export function hasBlob(s: StoreState, digest: BlobDigest): boolean {
  const st = sfs.stat(s.layout.blob(digest));
  if (!st?.isFile()) {
    s.present.delete(digest);
    return false;
  }
  s.present.set(digest, st.size);
  return true;
}

/** The verified bytes of a blob; undefined when absent; EINTEGRITY (and deleted) when bad. */
export function readBlob(s: StoreState, digest: BlobDigest, size?: number): Buffer | undefined {
  const path = s.layout.blob(digest);
  const data = sfs.readFile(path);
  if (data === undefined) {
    s.present.delete(digest);
    return undefined;
  }
  const found = sha256(data);
  if (found !== digest || (size !== undefined && data.length !== size)) {
    sfs.unlink(path);
    bumpEpoch(s);
    throw new StoreError(
      'EINTEGRITY',
      `store: blob ${digest} is corrupt (found ${data.length} bytes with digest ${found}); it was removed and will be rebuilt`,
      { expected: digest, found, path, expectedSize: size, foundSize: data.length },
    );
  }
  s.present.set(digest, data.length);
  return data;
}

const CHUNK = 64 * 1024;
const buf = Buffer.allocUnsafe(CHUNK);

/** sha256 and size of a stored file, streamed in 64 KiB chunks (for verify: blobs can be
 *  large, and it must not hold them in memory). Undefined when the file is gone. */
export function hashStoredFile(path: string): { digest: string; size: number } | undefined {
  const fd = sfs.openRead(path);
  if (fd === undefined) return undefined;
  try {
    const first = sfs.read(fd, buf, CHUNK, path);
    if (first < CHUNK) return { digest: sha256(buf.subarray(0, first)), size: first };
    const h = createSha256();
    let size = 0;
    for (let n = first; n > 0; n = sfs.read(fd, buf, CHUNK, path)) {
      h.update(n === CHUNK ? buf : buf.subarray(0, n));
      size += n;
    }
    return { digest: h.digest(), size };
  } finally {
    sfs.close(fd, path);
  }
}
