/**
 * ADD's xz and bzip2 archives, unpacked as Docker unpacks them (never an image layer: OCI
 * defines neither compression): xz through xz-decompress (xz-embedded in WebAssembly,
 * streaming), bzip2 through unbzip2-stream (pure JS, streaming, one block at a time; slow,
 * ~2.5 MB/s out, but bzip2 archives are rare and the step is cached by the archive's bytes).
 * Its own module, imported only for such an archive: the two libraries cost ~10 ms to load,
 * which every registry pull (engine/registry/decompress.ts) would otherwise pay.
 */
import { Transform, type TransformCallback } from 'node:stream';
import unbzip2 from 'unbzip2-stream';
import xz from 'xz-decompress';
import type { Compression } from './registry/media-types.js';

/** What ADD unpacks: the layer compressions, plus xz and bzip2. */
export type ArchiveCompression = Compression | 'xz' | 'bzip2';

/**
 * xz (the .xz container: LZMA2, with CRC32/CRC64 checks) to its bytes, as a Transform around
 * the library's WHATWG stream: input is taken only when the decoder pulls for more, output is
 * read only while the Transform's reader wants it, so memory stays a few chunks whatever the
 * archive's size. The library decodes one stream at a time per process (a mutex around its
 * WebAssembly instance): a destroyed Transform cancels its reader, which lets the next one in.
 * (Not `Duplex.from(toWeb/fromWeb)`: destroying that one mid-stream left the mutex held, and
 * the next ADD of an xz waited on it forever.)
 */
export function createXzDecompress(): Transform {
  let feed!: ReadableStreamDefaultController<Uint8Array>;
  /** The transform callback waiting for the decoder to want more input. */
  let inputTaken: (() => void) | undefined;
  const input = new ReadableStream<Uint8Array>(
    {
      start(c) {
        feed = c;
      },
      pull() {
        const go = inputTaken;
        inputTaken = undefined;
        go?.();
      },
    },
    { highWaterMark: 1 },
  );
  const reader = (new xz.XzReadableStream(input) as ReadableStream<Uint8Array>).getReader();
  /** The pump waiting for the Transform's reader to want more output. */
  let outputWanted: (() => void) | undefined;
  let finished!: Promise<void>;
  const t = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      feed.enqueue(chunk);
      if ((feed.desiredSize ?? 0) > 0) cb();
      else inputTaken = () => cb();
    },
    flush(cb: TransformCallback) {
      feed.close();
      finished.then(() => cb(), (err: Error) => cb(xzError(err)));
    },
    destroy(err, cb) {
      reader.cancel().catch(() => {});
      cb(err);
    },
  });
  const read = t._read.bind(t);
  t._read = (n: number) => {
    const go = outputWanted;
    outputWanted = undefined;
    go?.();
    read(n);
  };
  finished = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      if (!t.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength))) await new Promise<void>((resolve) => (outputWanted = resolve));
    }
  })();
  // A decoding error before the end (damaged data) fails the stream at once.
  finished.catch((err: Error) => t.destroy(xzError(err)));
  return t;
}

const XZ_RET: Record<string, string> = {
  '2': 'an integrity check of a kind this decoder does not know',
  '3': 'out of memory',
  '4': 'the dictionary is larger than the memory limit',
  '5': 'not an .xz stream',
  '6': 'options this decoder does not support',
  '7': 'damaged data',
  '8': 'the data ends early',
};

function xzError(err: Error): Error {
  if (err.message.startsWith('invalid xz data')) return err;
  // Input that ends before the stream does: the library reads past its last chunk.
  if (err instanceof TypeError) return new Error('invalid xz data: the data ends early');
  const code = /error code (\d+)/.exec(err.message)?.[1];
  return new Error(`invalid xz data: ${(code && XZ_RET[code]) ?? err.message}`);
}

/** bzip2 (one or more streams) to its bytes; a damaged or cut-off one fails the stream. */
export function createBzip2Decompress(): Transform {
  const bz = unbzip2();
  let failed: Error | undefined;
  const t = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      bz.write(chunk);
      cb(failed);
    },
    flush(cb: TransformCallback) {
      bz.end();
      cb(failed);
    },
  });
  // unbzip2-stream decodes inside write() and end(), and says so in events, synchronously.
  bz.on('data', (d: Buffer) => t.push(d));
  // Its messages are few and odd ("I gave up a while ago on writing error messages"), and a
  // cut-off stream ends in a TypeError: said plainly instead.
  bz.on('error', (err: Error) => {
    failed ??= new Error(`invalid bzip2 data: ${err instanceof TypeError || /prematurely/.test(err.message) ? 'the data ends early or is damaged' : /gave up/.test(err.message) ? 'damaged data' : err.message}`);
  });
  return t;
}

/** The decompressing stream for an xz or bzip2 archive. */
export function createArchiveDecompress(kind: 'xz' | 'bzip2'): Transform {
  return kind === 'xz' ? createXzDecompress() : createBzip2Decompress();
}
