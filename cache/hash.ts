/**
 * Hashing. Two algorithms, for two kinds of trust:
 *
 * - sha256 for every identity another machine or a remote cache may trust: blob names (file
 *   content digests), layer digests, chain digests and step keys (issue 11, item 4). A 64-bit
 *   non-cryptographic hash can be collided on purpose, and a layer digest over xxh64 blob
 *   names would be only as strong as xxh64.
 * - xxh64 (xxhash-wasm) where a collision costs a re-hash, not a wrong result: names of
 *   local documents and directories (hashes of names, checked against the name inside), and
 *   the bench floors.
 *
 * Files are read synchronously in 64 KiB chunks into one reused buffer and streamed through
 * one hasher: for the many small files of a build context a sync loop beats promise overhead.
 * The cost of sha256 against xxh64 is measured by bench/phases.ts ("hash: sha256 vs xxh64").
 */
import xxhash from 'xxhash-wasm';
import { openSync, readSync, closeSync } from 'node:fs';
import * as crypto from 'node:crypto';
import { createHash } from 'node:crypto';

const api = await xxhash();

const CHUNK = 64 * 1024;
const shared = Buffer.allocUnsafe(CHUNK);

/** 16 lower-case hex chars of a 64-bit value. */
export function hex64(v: bigint): string {
  return v.toString(16).padStart(16, '0');
}

/** xxh64 of a string (UTF-8) or bytes, as 16 hex chars. */
export function xxh64(data: string | Uint8Array): string {
  return typeof data === 'string' ? api.h64ToString(data) : hex64(api.h64Raw(data));
}

/** A streaming xxh64 hasher. */
export function createXxh64(): { update(data: string | Uint8Array): void; digest(): string } {
  const h = api.create64();
  return {
    update(data) {
      h.update(data);
    },
    digest: () => hex64(h.digest()),
  };
}

/** sha256 (the content digest, a blob's name) and size of a file, read synchronously in
 *  64 KiB chunks. */
export function hashFileSync(path: string): { digest: string; size: number } {
  const fd = openSync(path, 'r');
  try {
    const h = createHash('sha256');
    let size = 0;
    for (;;) {
      const n = readSync(fd, shared, 0, CHUNK, null);
      if (n === 0) break;
      h.update(n === CHUNK ? shared : shared.subarray(0, n));
      size += n;
    }
    return { digest: h.digest('hex'), size };
  } finally {
    closeSync(fd);
  }
}

/** xxh64 and size of a file's content, read synchronously in 64 KiB chunks (local
 *  fingerprints only; and the bench's comparison with hashFileSync). */
export function hashFileXxh64Sync(path: string): { digest: string; size: number } {
  const fd = openSync(path, 'r');
  try {
    const first = readSync(fd, shared, 0, CHUNK, null);
    if (first < CHUNK) return { digest: hex64(api.h64Raw(shared.subarray(0, first))), size: first };
    const h = api.create64();
    h.update(shared);
    let size = first;
    for (;;) {
      const n = readSync(fd, shared, 0, CHUNK, null);
      if (n === 0) break;
      h.update(n === CHUNK ? shared : shared.subarray(0, n));
      size += n;
    }
    return { digest: hex64(h.digest()), size };
  } finally {
    closeSync(fd);
  }
}

/** crypto.hash (Node ≥ 20.12): no Hash object per call, ~2 µs less per small input (a cold
 *  build hashes every file it stores). Absent on older Node 20 releases. */
const oneShot = (crypto as { hash?: (algorithm: string, data: string | Uint8Array, encoding: 'hex') => string }).hash;

/** sha256 hex of a string (UTF-8) or bytes: content digests, layer and chain digests, step
 *  keys, and what leaves the machine (OCI requires sha256). */
export function sha256(data: string | Uint8Array): string {
  return oneShot ? oneShot('sha256', data, 'hex') : createHash('sha256').update(data).digest('hex');
}

/** A streaming sha256 hasher with the same shape as createXxh64(). */
export function createSha256(): { update(data: string | Uint8Array): void; digest(): string } {
  const h = createHash('sha256');
  return {
    update(data) {
      h.update(data);
    },
    digest: () => h.digest('hex'),
  };
}

/** Canonical JSON: object keys sorted, no whitespace. The input of every key and digest. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = sortKeys(x);
    }
    return out;
  }
  return v;
}

