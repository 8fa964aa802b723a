/**
 * `ADD archive.tar[.gz|.zst] /dest/`: a local tar archive is unpacked into the destination
 * directory, as Docker does (`tar -x`: owners, modes, symlinks and hard links as the archive
 * has them). The archive's own fingerprint (its content digest) is in the step's key like any
 * COPY source, so the layer is rebuilt exactly when the archive's bytes change.
 *
 * The archive goes through the same checked reader as an image layer (engine/oci/layer-import.ts):
 * absolute names, `..` segments and entries beneath a symlink of the same archive are refused
 * rather than written outside the destination. A file that only looks like an archive (a
 * gzip of something that is not a tar) is copied as it is, as Docker copies it.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { gunzipSync, constants as zlib } from 'node:zlib';
import type { Store } from '../cache/store-types.js';
import type { LayerEntry } from '../cache/layer-types.js';
import type { CtxEntry } from './context.js';
import { CopyError } from './copy.js';

export type ArchiveKind = 'tar' | 'gzip' | 'zstd';

const HEAD = 64 * 1024;

/** Whether a context file is an archive ADD unpacks; throws for the compressions it cannot read. */
export function archiveKind(e: CtxEntry): ArchiveKind | undefined {
  if (e.type !== 'file' || e.size < 6) return undefined;
  const head = Buffer.alloc(Math.min(HEAD, e.size));
  const fd = openSync(e.abs, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const buf = head.subarray(0, n);
  if (buf[0] === 0x1f && buf[1] === 0x8b) {
    let inner: Buffer;
    try {
      // A prefix only: the flush mode lets gunzip stop where the bytes stop.
      inner = gunzipSync(buf, { finishFlush: zlib.Z_SYNC_FLUSH });
    } catch {
      return undefined;
    }
    return isTarHeader(inner) ? 'gzip' : undefined;
  }
  if (n >= 4 && buf.readUInt32BE(0) === 0x28b52ffd) return 'zstd';
  if (buf.subarray(0, 3).toString('latin1') === 'BZh' || buf.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) {
    throw new CopyError(`ADD ${e.rel}: unpacking bzip2 and xz archives is not supported yet`, `recompress it with gzip or zstd, or COPY it and unpack it in a RUN: COPY ${e.rel} /tmp/ then RUN tar -xf /tmp/… -C <dest>`);
  }
  return isTarHeader(buf) ? 'tar' : undefined;
}

/** A ustar/GNU header (magic at 257), or a v7 header whose checksum adds up. */
function isTarHeader(b: Buffer): boolean {
  if (b.length < 512) return false;
  const magic = b.subarray(257, 262).toString('latin1');
  if (magic === 'ustar') return true;
  const stored = parseInt(b.subarray(148, 156).toString('latin1').replace(/[\0 ]+$/, '').trim(), 8);
  if (!Number.isFinite(stored) || b[0] === 0) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : b[i]!;
  return sum === stored;
}

/**
 * The entries of `archive` unpacked under `destRel` (a path relative to the root, '' for the
 * root): every file's content is written to the store as a blob on the way.
 */
export async function unpackedEntries(store: Store, archive: CtxEntry, destRel: string): Promise<LayerEntry[]> {
  const { importLayer } = await import('./oci/layer-import.js');
  let imported;
  try {
    imported = await importLayer(store, archive.abs, `ADD ${archive.rel}`, {});
  } catch (err) {
    throw new CopyError((err as Error).message, 'the archive is damaged, or holds names that would escape the destination; unpack it yourself in a RUN to see what it contains');
  }
  const under = (p: string) => (destRel === '' ? p : `${destRel}/${p}`);
  const out: LayerEntry[] = [];
  for (const e of imported.layer.entries) {
    if (e.type === 'whiteout' || e.type === 'opaque') {
      throw new CopyError(`ADD ${archive.rel}: the archive holds a whiteout (${e.path}), which ADD does not apply`, 'unpack it in a RUN, or remove the .wh. entries from the archive');
    }
    out.push(e.type === 'hardlink' ? { ...e, path: under(e.path), target: under(e.target) } : { ...e, path: under(e.path) });
  }
  return out;
}
