/**
 * Layer tars as OCI blobs: the uncompressed tar (its sha256 is the diffID), gzipped (its
 * sha256 is the descriptor digest), and the per-layer cache of those digests.
 *
 * Gzip is reproducible here: node's zlib at a fixed level writes MTIME 0 and no file name,
 * and the OS byte of the header is set to 255 ("unknown", what Go's compress/gzip and so
 * BuildKit write) so that the bytes do not depend on the host OS. The same zlib gives the
 * same deflate stream; the zlib version is part of the cache entry's name, so a node upgrade
 * that changes the stream cannot serve stale digests.
 *
 * The cache (`oci-layer-tars` docs, one per layer digest × export epoch × zlib) is what lets a
 * second export skip the gzip pass entirely when the blob is already in the destination.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { Layer } from '../../cache/layer-types.js';
import type { LayerDigest } from '../../cache/digest.js';
import type { Store } from '../../cache/store-types.js';
import { layerTar } from './layer-tar.js';

/** Bump when the tar encoding (layer-tar.ts) changes: cached digests would no longer match. */
const TAR_FORMAT = 2;
/** zlib's default level, written out: the level is part of the bytes. */
const GZIP_LEVEL = 6;
const DOC_KIND = 'oci-layer-tars';

export interface LayerTarInfo {
  /** sha256 hex of the uncompressed tar. */
  diffId: string;
  tarSize: number;
  /** The gzip blob, once one was produced. */
  gz?: { digest: string; size: number };
}

const docName = (layer: LayerDigest, epoch: number) => `v${TAR_FORMAT} ${layer} epoch=${epoch} zlib=${process.versions.zlib} level=${GZIP_LEVEL}`;

export function cachedTarInfo(store: Store, layer: LayerDigest, epoch: number): LayerTarInfo | undefined {
  const doc = store.readDoc<LayerTarInfo>(DOC_KIND, docName(layer, epoch));
  return doc && typeof doc.diffId === 'string' && typeof doc.tarSize === 'number' ? doc : undefined;
}

export function rememberTarInfo(store: Store, layer: LayerDigest, epoch: number, info: LayerTarInfo): void {
  store.writeDoc(DOC_KIND, docName(layer, epoch), info, { layers: [layer] });
}

type Sink = (source: AsyncIterable<Buffer>) => Promise<void>;

async function* tap(source: AsyncIterable<Buffer>, onChunk: (b: Buffer) => void): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    onChunk(chunk);
    yield chunk;
  }
}

/** Set the gzip header's OS byte (offset 9) to 255, whatever chunk sizes zlib hands out. */
async function* neutralOs(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let pending: Buffer | undefined = Buffer.alloc(0);
  for await (const chunk of source) {
    if (!pending) {
      yield chunk;
      continue;
    }
    pending = Buffer.concat([pending, chunk]);
    if (pending.length >= 10) {
      pending[9] = 0xff;
      yield pending;
      pending = undefined;
    }
  }
  if (pending?.length) yield pending;
}

/**
 * Produce a layer's tar, gzipped or not, into `sink`, measuring it on the way. With `expect`
 * (digests from the cache), a result that differs throws: the caller's output is then torn
 * and must be discarded.
 */
export async function produceLayer(store: Store, layer: Layer, epoch: number, gzip: boolean, sink: Sink, expect?: LayerTarInfo): Promise<LayerTarInfo> {
  const diff = createHash('sha256');
  let tarSize = 0;
  const gz = createHash('sha256');
  let gzSize = 0;
  const measureTar = (s: AsyncIterable<Buffer>) =>
    tap(s, (b) => {
      diff.update(b);
      tarSize += b.length;
    });
  const measureGz = (s: AsyncIterable<Buffer>) =>
    tap(s, (b) => {
      gz.update(b);
      gzSize += b.length;
    });
  // A plain async iterable, so node's pipeline never treats the streamx Pack as a node stream.
  const tar = (async function* () {
    for await (const chunk of layerTar(store, layer, epoch)) yield chunk as Buffer;
  })();
  if (gzip) await pipeline(tar, measureTar, createGzip({ level: GZIP_LEVEL }), neutralOs, measureGz, sink);
  else await pipeline(tar, measureTar, sink);
  const info: LayerTarInfo = { diffId: diff.digest('hex'), tarSize, ...(gzip ? { gz: { digest: gz.digest('hex'), size: gzSize } } : {}) };
  if (expect) {
    const same = info.diffId === expect.diffId && info.tarSize === expect.tarSize && (!gzip || (info.gz?.digest === expect.gz?.digest && info.gz?.size === expect.gz?.size));
    if (!same) throw new Error(`layer ${layer.digest} exported differently than its cached digests say (diffID ${info.diffId} vs ${expect.diffId}); the export was discarded — run it again`);
  }
  return info;
}

/** Measure a layer's uncompressed tar without keeping it (docker-archive export). */
export function measureLayer(store: Store, layer: Layer, epoch: number): Promise<LayerTarInfo> {
  return produceLayer(store, layer, epoch, false, async (s) => {
    for await (const _ of s) void _;
  });
}

/**
 * Write a layer's gzip blob into `dir` as `<sha256 hex>`: to a temp name first, renamed once
 * complete, so the folder only ever holds whole blobs under their true digest.
 */
export async function writeLayerGzip(store: Store, layer: Layer, epoch: number, dir: string): Promise<LayerTarInfo & { gz: { digest: string; size: number }; path: string }> {
  const tmp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  const file = createWriteStream(tmp, { flags: 'wx' });
  try {
    const info = await produceLayer(store, layer, epoch, true, (s) => pipeline(s, file));
    const path = join(dir, info.gz!.digest);
    renameSync(tmp, path);
    return { ...info, gz: info.gz!, path };
  } finally {
    // After a failure the file may still be opening: remove it once it is closed.
    if (!file.closed) {
      file.destroy();
      await once(file, 'close').catch(() => {});
    }
    rmSync(tmp, { force: true });
  }
}
