/**
 * Cache keys (DESIGN.md "Cache keys: the contract"). key = sha256(canonical JSON of a typed
 * record). The record holds the chain digest below the step (by content, so a byte-identical
 * rebuilt layer lets later steps hit again), the platform and the executor the step runs on,
 * the config state that reaches this step's execution, the expanded instruction with flags in
 * canonical order, and the fingerprints of copied files. mtimes never enter: touching a file
 * is not a change.
 *
 * sha256, not xxh64: a key is trusted by a remote cache and by other machines (`--cache-from`),
 * and a 64-bit non-cryptographic hash can be collided on purpose (issue 11, item 4). The cost
 * is measured in bench/phases.ts ("hash: sha256 vs xxh64, key records").
 */
import { createHash } from 'node:crypto';
import { canonicalJson, sha256 } from '../cache/hash.js';
import { asStepKey, type ChainDigest, type StepKey } from '../cache/digest.js';
import type { ExecutorKind } from './executor-types.js';

/** Bump whenever the record's shape or meaning changes: old keys then simply miss.
 *  2: sha256 keys over sha256 content digests; `platform` and `executor` in the record. */
export const KEY_SCHEMA = 2;

/** Bump when what a sandboxed RUN sees changes, so its old layers miss.
 *  2: /tmp is the image's own directory (1 mounted a tmpfs over it). */
export const SANDBOX_REVISION = 2;

/** (relative path, type, mode, content digest or link target) of one copied source. */
export type FileRow = [path: string, type: 'f' | 'd' | 'l', mode: number, digestOrTarget: string];

export interface KeyRecordV2 {
  schema: typeof KEY_SCHEMA;
  op: 'RUN' | 'COPY' | 'ADD' | 'WORKDIR';
  /** OCI `os/arch[/variant]` of the machine the step runs on (`linux/amd64`): a RUN on
   *  another CPU can produce other bytes, and a remote cache serves many platforms. */
  platform: string;
  /** Which executor runs the step (DESIGN.md "Executors"): a RUN on the host sees the host's
   *  filesystem, in the sandbox the image's, so their results are not interchangeable. */
  executor: ExecutorKind;
  /** RUN in the sandbox: what the sandbox gives a command, as a revision (SANDBOX_REVISION):
   *  a layer made by an older sandbox (one with a tmpfs /tmp) must not be served. */
  runtime?: number;
  /** Chain digest of the filesystem below the step. */
  parent: ChainDigest;
  /** The instruction after expansion (command for RUN, sources and dest for COPY). */
  instruction: string;
  /** Flags that change the result, canonical (sorted keys). */
  flags: Record<string, string>;
  /** Environment the command sees from the image (RUN only): ENV plus ARGs in scope. */
  env?: Record<string, string>;
  workdir?: string;
  user?: string;
  shell?: string[];
  /** COPY/ADD from the context: digest and count of the sorted FileRow list (the list itself is
   *  kept beside the key, for miss explanations). */
  files?: { digest: string; count: number };
  /** COPY --from a stage or image: the source's chain digest. */
  sourceChain?: ChainDigest;
  /** RUN --mount=type=bind,from=<stage|image>: the chain digest of each mounted source, by
   *  the mount's target. */
  mountChains?: Record<string, ChainDigest>;
  /** RUN --mount=type=cache: target and id only; contents never enter a key. */
  cacheMounts?: { target: string; id: string }[];
}

/** @deprecated the record is version 2 now; kept as an alias for callers not yet renamed. */
export type KeyRecordV1 = KeyRecordV2;

const OCI_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips: 'mips', mipsel: 'mipsle' };
const OCI_OS: Record<string, string> = { linux: 'linux', darwin: 'darwin', win32: 'windows', freebsd: 'freebsd', openbsd: 'openbsd', sunos: 'solaris', aix: 'aix' };

/** `process.platform`/`process.arch` in OCI's names (image-spec config.md `os`/`architecture`,
 *  as Go's GOOS/GOARCH): `linux/amd64`, `linux/arm64`, `darwin/arm64`. */
export function ociPlatform(platform: string = process.platform, arch: string = process.arch): string {
  return `${OCI_OS[platform] ?? platform}/${OCI_ARCH[arch] ?? arch}`;
}

export function stepKey(record: KeyRecordV2): StepKey {
  return asStepKey(sha256(canonicalJson(record)));
}

/** Digest of a sorted FileRow list (sha256: its rows carry content digests into the key). */
export function filesDigest(rows: readonly FileRow[]): string {
  return sha256(JSON.stringify(rows));
}

/**
 * A COPY's sorted FileRow list as its key sees it: the digest and the count, always; the rows
 * themselves only when asked (a miss explanation, the history's blob, a cache export). A hit
 * of an unchanged step never builds them.
 */
export interface FileList {
  /** filesDigest(rows()): sha256 of `json()`. */
  readonly digest: string;
  readonly count: number;
  rows(): FileRow[];
  /** Visit the rows in order without holding them all (a streamed list parses one 64 KiB
   *  piece at a time). */
  eachRow(visit: (row: FileRow, index: number) => void): void;
  /** JSON.stringify(rows()) as UTF-8: the bytes `digest` hashes, and the history's blob. */
  json(): Buffer;
}

/** Characters JSON.stringify escapes in a string (quote, backslash, controls, lone surrogates). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** JSON.stringify(s), without its cost for the usual path (7× faster on 200k paths here). */
function jsonString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/** The FileList of rows already built (sorted by path). */
export function fileListOf(rows: FileRow[]): FileList {
  let json: Buffer | undefined;
  const bytes = () => (json ??= Buffer.from(JSON.stringify(rows)));
  return { digest: sha256(bytes()), count: rows.length, rows: () => rows, eachRow: (visit) => rows.forEach(visit), json: bytes };
}

/**
 * Builds a FileList from rows added in sorted path order, hashing them as they come: the
 * same bytes as JSON.stringify of the whole list (so the same digest as filesDigest), without
 * an array per row. The JSON is kept in 64 KiB buffers (outside the JS heap) for the rare
 * reader of the rows; a 200k-file COPY holds ~24 MB of them until its step is done.
 */
/** Rows a FileListWriter without `keepRows` holds at most (~6 MB of arrays and strings). */
const KEEP_ROWS = 32_768;

export class FileListWriter {
  readonly #hash = createHash('sha256');
  readonly #chunks: Buffer[] = [];
  #text = '[';
  #count = 0;
  #last: string | undefined;
  /** The rows as they come: always with `keepRows` (watch mode reads them on every edit's
   *  miss, and parsing them back from the JSON was most of its re-key); otherwise up to
   *  KEEP_ROWS of them, and none once a list grows past that (a miss builds its layer from
   *  them: parsing 10k rows back was 31 ms of a one-file incremental; a 200k-row list would
   *  hold ~40 MB of arrays). */
  #rows: FileRow[] | undefined = [];
  readonly #keepAll: boolean;

  constructor(opts: { keepRows?: boolean } = {}) {
    this.#keepAll = opts.keepRows === true;
  }

  get count(): number {
    return this.#count;
  }

  /** Append a row; `path` must sort after the previous row's (JavaScript string order). */
  add(path: string, type: FileRow[1], mode: number, digestOrTarget: string): void {
    if (this.#last !== undefined && !(this.#last < path)) throw new Error(`BUG: FileListWriter rows out of order: ${JSON.stringify(this.#last)} then ${JSON.stringify(path)}`);
    this.#last = path;
    // Each string as JSON.stringify(rows) writes it (escapes and all).
    this.#text += `${this.#count++ === 0 ? '' : ','}[${jsonString(path)},"${type}",${mode},${jsonString(digestOrTarget)}]`;
    if (this.#rows) {
      this.#rows.push([path, type, mode, digestOrTarget]);
      if (!this.#keepAll && this.#rows.length > KEEP_ROWS) this.#rows = undefined;
    }
    if (this.#text.length >= 65536) this.#flush();
  }

  #flush(): void {
    const b = Buffer.from(this.#text, 'utf8');
    this.#hash.update(b);
    this.#chunks.push(b);
    this.#text = '';
  }

  /** The finished list; the writer is not used after this. Made with `keepRows` or short, it
   *  holds the rows (watch mode explains each edit against the list before); else each
   *  rows() parses them again, and nothing holds them once read. */
  finish(): FileList {
    this.#text += ']';
    this.#flush();
    const chunks = this.#chunks;
    const count = this.#count;
    const rows = this.#rows;
    const json = () => (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    const parse = () => JSON.parse(json().toString('utf8')) as FileRow[];
    const eachRow = (visit: (row: FileRow, index: number) => void) => {
      if (rows) return rows.forEach(visit);
      // Every piece ends at a row's end: `[r,r` then `,r,r` …, the last one closed by `]`.
      let i = 0;
      chunks.forEach((c, k) => {
        let text = c.toString('utf8', 1);
        if (k === chunks.length - 1) text = text.slice(0, -1);
        if (text === '') return;
        for (const r of JSON.parse(`[${text}]`) as FileRow[]) visit(r, i++);
      });
    };
    return { digest: this.#hash.digest('hex'), count, rows: rows ? () => rows : parse, eachRow, json };
  }
}
