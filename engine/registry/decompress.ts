/**
 * Layer decompression as a stream: gzip through node's zlib, zstd through fzstd (pure JS,
 * streaming; node's zlib has zstd only from Node 22, and the native bindings fetch prebuilt
 * binaries at install time). The compression is told by the media type, and checked against
 * the blob's magic bytes, so a mislabelled blob fails with a message rather than garbage.
 * ADD's xz and bzip2 are in engine/archive-decompress.ts, loaded only for them.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Decompress } from 'fzstd';
import type { Compression } from './media-types.js';

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/** The compression the first bytes of a blob show (`none` for anything else, e.g. a tar). */
export function sniffCompression(head: Uint8Array): Compression {
  const starts = (m: number[]) => m.every((b, i) => head[i] === b);
  return starts(ZSTD_MAGIC) ? 'zstd' : starts(GZIP_MAGIC) ? 'gzip' : 'none';
}

/** A Transform that turns zstd frames (one or more, as zstd concatenates) into their bytes. */
export function createZstdDecompress(): Transform {
  let decoder: Decompress;
  const t = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      try {
        decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
        cb();
      } catch (err) {
        cb(zstdError(err));
      }
    },
    flush(cb: TransformCallback) {
      try {
        decoder.push(new Uint8Array(0), true);
        cb();
      } catch (err) {
        cb(zstdError(err));
      }
    },
  });
  // fzstd hands out views of its own window buffer: copy before the next push overwrites it.
  decoder = new Decompress((data) => {
    if (data.length) t.push(Buffer.from(data));
  });
  return t;
}

function zstdError(err: unknown): Error {
  return new Error(`invalid zstd data: ${err instanceof Error ? err.message : String(err)}`);
}

/** The decompressing stream for `kind`, or a pass-through for `none`. `chunkSize` is the size
 *  of gzip's output buffers (zlib's default is 16 KiB; a layer import reads megabytes, where
 *  fewer, larger chunks cost less per byte downstream). */
export function createDecompress(kind: Compression, o: { chunkSize?: number } = {}): Transform {
  switch (kind) {
    case 'gzip':
      return createGunzip(o.chunkSize ? { chunkSize: o.chunkSize } : {});
    case 'zstd':
      return createZstdDecompress();
    case 'none':
      return new Transform({ transform: (c, _e, cb) => cb(null, c) });
  }
}
