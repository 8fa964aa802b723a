/**
 * Small bridges between tar-stream (streamx streams) and node's async iteration: wait for
 * drain, write one entry, and read a tar from any async iterable of bytes. tar-stream does the
 * header encoding and parsing; nothing here writes a tar header by hand.
 */
import { extract, type Header, type Pack } from 'tar-stream';
import './tar-pax.js';

interface Drainable {
  write(chunk: Uint8Array): boolean;
  on(event: string, fn: (...args: unknown[]) => void): unknown;
  off(event: string, fn: (...args: unknown[]) => void): unknown;
  destroyed?: boolean;
  destroying?: boolean;
}

const noop = () => {};

/** Write with backpressure: resolves once the stream wants more (or is gone). */
export async function writeChunk(stream: Drainable, chunk: Uint8Array): Promise<void> {
  if (stream.write(chunk)) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

/** Add one entry to a pack; `body` streams the content of a file entry (header.size bytes). */
export function packEntry(pack: Pack, header: Parameters<Pack['entry']>[0], body?: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (body === undefined || body instanceof Uint8Array) {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      // Errors reach us through the callback; without a listener a destroyed entry would
      // also emit an unhandled 'error' and end the process.
      (body ? pack.entry(header, body, cb) : pack.entry(header, cb)).on('error', noop);
      return;
    }
    const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    sink.on('error', noop);
    void (async () => {
      try {
        for await (const chunk of body) {
          if (sink.destroyed || sink.destroying) return;
          await writeChunk(sink as unknown as Drainable, chunk);
        }
        sink.end(null);
      } catch (err) {
        sink.destroy(err as Error);
        reject(err as Error);
      }
    })();
  });
}

/** A tar entry as the reader sees it: its header and its body (drained by the caller, or
 *  by readTar when the callback leaves it). */
export interface TarEntry {
  header: Header;
  body: AsyncIterable<Buffer>;
}

/**
 * Read a tar from `source`, calling `onEntry` for every entry in order. An error in the
 * source (a bad gzip stream), a truncated archive or a throw from `onEntry` rejects.
 *
 * Like Go's archive/tar (and so docker, containerd and umoci), a tar may end without its two
 * zero blocks, and without the padding after its last file's data: umoci 0.4's `insert`
 * writes such layers. Data that is actually cut short is still an error.
 */
export async function readTar(source: AsyncIterable<Uint8Array>, onEntry: (entry: TarEntry) => Promise<void>): Promise<void> {
  const ex = extract();
  let feedError: unknown;
  let total = 0;
  let dataEnd = 0;
  const feed = (async () => {
    try {
      for await (const chunk of source) {
        if (ex.destroyed || ex.destroying) return;
        total += chunk.length;
        await writeChunk(ex as unknown as Drainable, chunk);
      }
      const pad = (512 - (total % 512)) % 512;
      if (pad && !(ex.destroyed || ex.destroying)) await writeChunk(ex as unknown as Drainable, Buffer.alloc(pad));
      ex.end(null);
    } catch (err) {
      feedError = err;
      ex.destroy(err as Error);
    }
  })();
  try {
    for await (const entry of ex) {
      const { header } = entry;
      const offset = (header as { byteOffset?: number }).byteOffset ?? 0;
      if (header.type === 'file' || header.type === 'contiguous-file') dataEnd = Math.max(dataEnd, offset + header.size);
      let drained = false;
      const body = (async function* () {
        for await (const chunk of entry) yield chunk as Buffer;
        drained = true;
      })();
      await onEntry({ header, body });
      if (!drained) for await (const _ of body) void _;
    }
  } catch (err) {
    throw feedError ?? err;
  } finally {
    await feed;
  }
  if (feedError) throw feedError;
  if (dataEnd > total) throw new Error(`Unexpected end of data (the archive ends at byte ${total}, inside an entry that ends at ${dataEnd})`);
}
