/**
 * Blob upload (distribution spec "Pushing blobs"): nothing when the registry already has the
 * blob (HEAD), a cross-repository mount (`POST ?mount=&from=`) when the caller knows another
 * repository of the registry that holds it, else a monolithic upload (POST, then PUT with the
 * bytes) or, above `chunkSize`, a chunked one (POST, PATCH per chunk with Content-Range, PUT
 * `?digest=`). The registry verifies the digest on the final PUT; the digest it answers with
 * is checked too. A chunked upload whose PATCH fails (dropped, 5xx, 416) asks the registry
 * how far it got (GET on the upload URL) and goes on from there, a bounded number of times.
 */
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { headBlob } from './blob-fetch.js';
import { describe, RegistryError, type RegistryErrorFacts } from './registry-error.js';
import type { HttpResponse } from './http.js';
import { repoScope, statusError, type Transport } from './transport.js';

/** Above this a blob goes in PATCH chunks of this size (16 MiB, a common registry limit is far above). */
export const DEFAULT_CHUNK_SIZE = 16 << 20;

export type BlobSource = { file: string } | { bytes: Uint8Array };

export interface PutBlobOptions {
  /** A repository of the same registry that may hold the blob: mount instead of upload. */
  mountFrom?: string;
  /** Force chunked (true) or monolithic (false); by default chunked above chunkSize. */
  chunked?: boolean;
  chunkSize?: number;
}

export interface PutBlobResult {
  digest: string;
  size: number;
  /** How the blob got there: it was there, it was mounted, or its bytes were sent. */
  how: 'existed' | 'mounted' | 'uploaded';
}

function location(res: HttpResponse, base: string, facts: RegistryErrorFacts): string {
  const loc = res.headers.get('location');
  if (!loc) throw new RegistryError('PROTOCOL', `${describe(facts)}: the registry started an upload without a Location`, facts);
  return new URL(loc, base).toString();
}

function withDigest(url: string, digest: string): string {
  const u = new URL(url);
  u.searchParams.set('digest', digest);
  return u.toString();
}

/** Read `length` bytes at `offset` of a source. */
async function slice(src: BlobSource, offset: number, length: number): Promise<Buffer> {
  if ('bytes' in src) return Buffer.from(src.bytes.buffer, src.bytes.byteOffset + offset, length);
  const fh = await open(src.file, 'r');
  try {
    const buf = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
      if (bytesRead === 0) throw new Error(`${src.file} is shorter than ${offset + length} bytes`);
      got += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}

/** Times a chunked upload asks the registry where it stands after a failed PATCH. */
const MAX_RECOVERIES = 5;

/** Where an upload stands (GET on its Location: 204 with `Range: 0-<last byte>`). */
async function uploadStatus(t: Transport, registry: string, url: string, push: string, base: string, facts: RegistryErrorFacts): Promise<{ url: string; offset: number }> {
  const res = await t.request({ method: 'GET', registry, path: url, scopes: [push], facts });
  if (res.status !== 204 && res.status !== 202) throw await statusError(res, 'asking where the interrupted upload stands', facts);
  await res.body?.cancel();
  const last = /^(?:bytes=)?0-(-?\d+)$/.exec(res.headers.get('range') ?? '')?.[1];
  return { url: res.headers.get('location') ? location(res, base, facts) : url, offset: last === undefined ? 0 : Math.max(0, Number(last) + 1) };
}

export async function putBlob(t: Transport, registry: string, repository: string, src: BlobSource, digest: string, size: number, opts: PutBlobOptions = {}): Promise<PutBlobResult> {
  const facts: RegistryErrorFacts = { registry, repository, digest };
  if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw new RegistryError('UNSUPPORTED', `${describe(facts)}: only sha256 blobs can be pushed`, facts);
  const actual = 'bytes' in src ? src.bytes.length : (await stat(src.file)).size;
  if (actual !== size) throw new RegistryError('DIGEST_MISMATCH', `${describe(facts)}: the source has ${actual} bytes, the descriptor says ${size}`, facts);
  const push = repoScope(repository, 'pull,push');
  const base = t.baseUrl(registry);

  const there = await headBlob(t, registry, repository, digest, 'pull,push');
  if (there) return { digest, size, how: 'existed' };

  let start: HttpResponse;
  if (opts.mountFrom && opts.mountFrom !== repository) {
    const q = new URLSearchParams({ mount: digest, from: opts.mountFrom });
    start = await t.request({ method: 'POST', registry, path: `/v2/${repository}/blobs/uploads/?${q}`, scopes: [push, repoScope(opts.mountFrom, 'pull')], headers: { 'content-length': '0' }, facts });
    if (start.status === 201) {
      await start.body?.cancel();
      return { digest, size, how: 'mounted' };
    }
    // 202: the registry could not mount (no access to `from`, or not there) and opened an upload.
  } else {
    start = await t.request({ method: 'POST', registry, path: `/v2/${repository}/blobs/uploads/`, scopes: [push], headers: { 'content-length': '0' }, facts });
  }
  if (start.status !== 202) throw await statusError(start, 'starting the upload', facts);
  await start.body?.cancel();
  let url = location(start, base, facts);

  const chunkSize = Math.max(1, opts.chunkSize ?? DEFAULT_CHUNK_SIZE);
  const chunked = opts.chunked ?? size > chunkSize;
  let done: HttpResponse;
  if (!chunked) {
    const body = () => ('bytes' in src ? Buffer.from(src.bytes) : createReadStream(src.file));
    done = await t.request({ method: 'PUT', registry, path: withDigest(url, digest), scopes: [push], headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) }, body, facts });
  } else {
    let recoveries = 0;
    for (let offset = 0; offset < size; ) {
      const n = Math.min(chunkSize, size - offset);
      const chunk = await slice(src, offset, n);
      let res: HttpResponse | undefined;
      let failure: RegistryError | undefined;
      try {
        // Not retried as is: a chunk may have landed in part. Recovery asks the registry instead.
        res = await t.request({
          method: 'PATCH',
          registry,
          path: url,
          scopes: [push],
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(n), 'content-range': `${offset}-${offset + n - 1}` },
          body: () => chunk,
          facts,
          once: true,
        });
      } catch (err) {
        if (!(err instanceof RegistryError) || (err.reason !== 'UNREACHABLE' && err.reason !== 'UNAVAILABLE')) throw err;
        failure = err;
      }
      if (failure || res?.status === 416) {
        await res?.body?.cancel();
        if (++recoveries > MAX_RECOVERIES) throw failure ?? (await statusError(res!, `uploading bytes ${offset}-${offset + n - 1}`, facts));
        await sleep(Math.min(100 * 2 ** recoveries, 2000));
        ({ url, offset } = await uploadStatus(t, registry, url, push, base, facts));
        continue;
      }
      if (res!.status !== 202) throw await statusError(res!, `uploading bytes ${offset}-${offset + n - 1}`, facts);
      await res!.body?.cancel();
      url = location(res!, base, facts);
      offset += n;
    }
    done = await t.request({ method: 'PUT', registry, path: withDigest(url, digest), scopes: [push], headers: { 'content-length': '0' }, facts });
  }
  if (done.status !== 201) {
    const err = await statusError(done, 'completing the upload', facts);
    if (/DIGEST_INVALID/.test(err.message)) throw new RegistryError('DIGEST_MISMATCH', err.message.replace('completing the upload', 'the registry found other bytes than the digest names'), facts);
    throw err;
  }
  await done.body?.cancel();
  const said = done.headers.get('docker-content-digest');
  if (said && said !== digest) throw new RegistryError('DIGEST_MISMATCH', `${describe(facts)}: the registry stored the upload as ${said}`, facts);
  return { digest, size, how: 'uploaded' };
}
