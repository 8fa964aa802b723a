/**
 * Blob download: streamed to a temp file beside the destination while its sha256 and size
 * are computed, renamed to the destination only when both match the descriptor. A dropped
 * connection is resumed with `Range: bytes=N-` (bounded); a server that ignores the Range
 * (200 instead of 206) is read again from the start. A mismatch leaves no file behind.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { describe, RegistryError, type RegistryErrorFacts } from './registry-error.js';
import type { HttpResponse } from './http.js';
import { repoScope, statusError, type Transport } from './transport.js';

/** Times a body may end early before the download fails with TRUNCATED. */
const MAX_RESUMES = 5;
/** Bytes collected before one write to the temp file. */
const WRITE_BATCH = 1 << 20;

export interface FetchedBlob {
  digest: string;
  size: number;
  path: string;
}

/** Read a response body chunk by chunk, failing when no chunk comes for `idleMs`. One timer,
 *  re-armed per chunk (a timer and a race per chunk cost ~4k of each for a 64 MiB blob). */
async function* chunks(res: HttpResponse, idleMs: number): AsyncGenerator<Uint8Array> {
  const body = res.body!;
  const it = body[Symbol.asyncIterator]();
  let idle = false;
  const timer = setTimeout(() => {
    idle = true;
    body.cancel().catch(() => {});
  }, idleMs);
  const stalled = () => new Error(`no data for ${idleMs} ms`);
  try {
    for (;;) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await it.next();
      } catch (err) {
        throw idle ? stalled() : err;
      }
      if (idle) throw stalled();
      if (next.done) return;
      timer.refresh();
      yield next.value;
    }
  } finally {
    clearTimeout(timer);
    body.cancel().catch(() => {});
  }
}

/**
 * GET `digest` of `repository` into `dest`. `size` is the descriptor's size (the most bytes
 * read); without it the Content-Length of the first response bounds the download.
 */
export async function fetchBlob(t: Transport, registry: string, repository: string, digest: string, size: number | undefined, dest: string): Promise<FetchedBlob> {
  const facts: RegistryErrorFacts = { registry, repository, digest };
  const hex = /^sha256:([a-f0-9]{64})$/.exec(digest)?.[1];
  if (!hex) throw new RegistryError('UNSUPPORTED', `${describe(facts)}: only sha256 blobs can be verified`, facts);
  const tmp = `${dest}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let file: FileHandle | undefined;
  try {
    file = await open(tmp, 'wx', 0o644);
    let hash: Hash = createHash('sha256');
    let have = 0;
    let expected = size;
    let lastError = '';
    for (let resumes = 0; ; resumes++) {
      const headers: Record<string, string> = {};
      if (have > 0) headers.range = `bytes=${have}-`;
      const res = await t.request({ method: 'GET', registry, path: `/v2/${repository}/blobs/${digest}`, scopes: [repoScope(repository, 'pull')], headers, facts });
      if (res.status === 200 && have > 0) {
        // The Range was ignored: start over.
        hash = createHash('sha256');
        have = 0;
        await file.truncate(0);
      } else if (res.status === 206) {
        const start = Number(/^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1] ?? NaN);
        if (start !== have) {
          await res.body?.cancel();
          throw new RegistryError('PROTOCOL', `${describe(facts)}: asked for bytes from ${have}, the registry sent a range from ${Number.isNaN(start) ? '?' : start}`, facts);
        }
      } else if (res.status !== 200) {
        throw await statusError(res, 'fetching the blob', facts);
      }
      if (expected === undefined) {
        const len = Number(res.headers.get('content-length') ?? NaN);
        if (Number.isInteger(len)) expected = len;
      }
      // Chunks are written in batches of about WRITE_BATCH bytes (one writev): a write per
      // network chunk (16-64 KiB) cost a thread-pool round trip each.
      let batch: Uint8Array[] = [];
      let batchBytes = 0;
      let written = have;
      const flush = async () => {
        if (!batchBytes) return;
        const b = batch;
        const n = batchBytes;
        batch = [];
        batchBytes = 0;
        await file!.writev(b, written);
        written += n;
      };
      try {
        if (!res.body) throw new Error('no body');
        try {
          for await (const chunk of chunks(res, t.timeoutMs)) {
            if (expected !== undefined && have + chunk.length > expected) {
              throw new RegistryError('DIGEST_MISMATCH', `${describe(facts)}: the registry sent more than the ${expected} bytes the descriptor names`, facts);
            }
            hash.update(chunk);
            have += chunk.length;
            batch.push(chunk);
            batchBytes += chunk.length;
            if (batchBytes >= WRITE_BATCH) await flush();
          }
        } finally {
          // What was received is on disk before a resume asks for the bytes after it.
          await flush();
        }
        if (expected === undefined || have === expected) break;
        lastError = `the body ended after ${have} of ${expected} bytes`;
      } catch (err) {
        if (err instanceof RegistryError) throw err;
        lastError = `the connection dropped after ${have}${expected !== undefined ? ` of ${expected}` : ''} bytes: ${(err as Error).message}`;
        if (expected === undefined) throw new RegistryError('TRUNCATED', `${describe(facts)}: ${lastError}`, facts);
      }
      if (resumes >= MAX_RESUMES) throw new RegistryError('TRUNCATED', `${describe(facts)}: ${lastError}; gave up after ${MAX_RESUMES} resumes`, facts);
    }
    await file.close();
    file = undefined;
    const found = hash.digest('hex');
    if (found !== hex) throw new RegistryError('DIGEST_MISMATCH', `${describe(facts)}: the registry sent bytes whose sha256 is ${found}`, facts);
    if (size !== undefined && have !== size) throw new RegistryError('DIGEST_MISMATCH', `${describe(facts)}: the blob has ${have} bytes, the descriptor says ${size}`, facts);
    await rename(tmp, dest);
    return { digest, size: have, path: dest };
  } finally {
    await file?.close().catch(() => {});
    await rm(tmp, { force: true });
  }
}

/** HEAD a blob: its size when the registry has it, undefined when it does not (404). */
export async function headBlob(t: Transport, registry: string, repository: string, digest: string, actions: 'pull' | 'pull,push' = 'pull'): Promise<{ size: number } | undefined> {
  const facts: RegistryErrorFacts = { registry, repository, digest };
  const res = await t.request({ method: 'HEAD', registry, path: `/v2/${repository}/blobs/${digest}`, scopes: [repoScope(repository, actions)], facts });
  await res.body?.cancel();
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw await statusError(res, 'checking the blob', facts);
  const size = Number(res.headers.get('content-length') ?? NaN);
  return { size: Number.isInteger(size) ? size : -1 };
}
