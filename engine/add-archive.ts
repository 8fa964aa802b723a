/**
 * `ADD archive.tar[.gz|.zst|.xz|.bz2] /dest/`: a local tar archive is unpacked into the destination
 * directory, as Docker does (`tar -x`: owners, modes, symlinks and hard links as the archive
 * has them). The archive's own fingerprint (its content digest) is in the step's key like any
 * COPY source, so the layer is rebuilt exactly when the archive's bytes change.
 *
 * The archive goes through the same checked reader as an image layer (engine/oci/layer-import.ts):
 * absolute names, `..` segments and entries beneath a symlink of the same archive are refused
 * rather than written outside the destination. A file that only looks like an archive (a
 * gzip or xz of something that is not a tar, or one that does not decompress) is copied as it
 * is, as Docker copies it. gzip is told from a decompressed prefix here; xz and bzip2 (whose
 * decoders are async, and bzip2's first output comes only after a whole block of up to 900 kB)
 * are told by their magic bytes when the key is computed, and their decompressed start is
 * checked when the step runs (unpackedEntries answers undefined: copy it as a file).
 */
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { gunzipSync, constants as zlib } from 'node:zlib';
import type { Store } from '../cache/store-types.js';
import type { LayerEntry } from '../cache/layer-types.js';
import type { CtxEntry } from './context.js';
import { CopyError } from './copy.js';

export type ArchiveKind = 'tar' | 'gzip' | 'zstd' | 'xz' | 'bzip2';

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
/** "BZh", a block size digit, then the first block's magic (pi in BCD). */
const BZIP2_BLOCK = Buffer.from([0x31, 0x41, 0x59, 0x26, 0x53, 0x59]);

const HEAD = 64 * 1024;

/** Whether a context file is an archive ADD unpacks (for xz and bzip2: looks like one). */
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
  if (buf.subarray(0, 6).equals(XZ_MAGIC)) return 'xz';
  if (n >= 10 && buf.subarray(0, 3).toString('latin1') === 'BZh' && buf[3]! >= 0x31 && buf[3]! <= 0x39 && buf.subarray(4, 10).equals(BZIP2_BLOCK)) return 'bzip2';
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
 * root), `kind` as archiveKind found it: every file's content is written to the store as a
 * blob on the way. Undefined for an xz or bzip2 file that is no tar once decompressed (or
 * does not decompress): ADD copies it.
 */
export async function unpackedEntries(store: Store, archive: CtxEntry, kind: ArchiveKind, destRel: string): Promise<LayerEntry[] | undefined> {
  const late = kind === 'xz' || kind === 'bzip2' ? kind : undefined;
  if (late && !(await decompressesToTar(archive.abs, late))) return undefined;
  const { importLayer } = await import('./oci/layer-import.js');
  let imported;
  try {
    imported = await importLayer(store, archive.abs, `ADD ${archive.rel}`, late ? { compression: late } : {});
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

/** Whether an xz or bzip2 file decompresses to something that starts as a tar (its first
 *  512 bytes; the rest is left undecoded). */
async function decompressesToTar(path: string, kind: 'xz' | 'bzip2'): Promise<boolean> {
  const { createArchiveDecompress } = await import('./archive-decompress.js');
  const input = createReadStream(path, { highWaterMark: 256 << 10 });
  const inflate = createArchiveDecompress(kind);
  input.on('error', (err) => inflate.destroy(err));
  input.pipe(inflate);
  const parts: Buffer[] = [];
  let have = 0;
  // Read by hand, not `for await … break`: the iterator's return() waits for the decoder to
  // close, and the decoder waits for input that backpressure holds back (nothing left to run,
  // node exits). Both are destroyed instead, the input first.
  const it = inflate[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  try {
    while (have < 512) {
      const r = await it.next();
      if (r.done) break;
      parts.push(r.value);
      have += r.value.length;
    }
  } catch {
    return false;
  } finally {
    input.destroy();
    inflate.destroy();
  }
  return isTarHeader(Buffer.concat(parts));
}
