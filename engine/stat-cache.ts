/**
 * The context's stat cache, like git's index: context path → (inode, size, mtime, ctime,
 * mode, sha256 of the content, racy). A file whose stat matches a clean row is not read again.
 *
 * Kept as one binary store document per context (cache/store-docs.ts), numbers as numbers:
 * the JSON form it replaces held inode and times as decimal strings of BigInts, and parsing
 * plus String() of three BigInts per file were ~45 ms of a 10k-file warm build
 * (bench/findings.md). Payload, version STAT_CACHE_VERSION:
 *
 *   u32 version | u32 byte order (0x01020304, native) | u32 rows | u32 path bytes |
 *   16 bytes xxh64 (hex) of the body | body:
 *     f64 × 4 per row   inode, size, mtimeMs, ctimeMs (as node's non-bigint lstat gives them)
 *     u32 per row       permission bits
 *     u8 per row        flags (1: racy)
 *     32 bytes per row  sha256 of the content
 *     the paths, UTF-8, separated by NUL
 *
 * Anything that does not check out (another version or byte order, a length that does not
 * add up, a checksum that does not match) is an empty cache: every file is hashed again, a
 * damaged file is never a wrong hit.
 *
 * Times are node's millisecond doubles, precise to well under a microsecond today. That is
 * enough with the racy rule: a row is trusted only once its mtime and ctime are more than
 * RACY_WINDOW_MS older than the moment the file was hashed, so a later change stamps the file
 * with a time at least that far from the row's (and ctime cannot be set back).
 *
 * Rows are saved in the order a build looked them up, so the next build of the same
 * Dockerfile finds each row at the cursor, one string compare; a path not at the cursor is
 * found through a Map built on the first such miss.
 */
import type { Stats } from 'node:fs';
import { createXxh64 } from '../cache/hash.js';
import { asBlobDigest, type BlobDigest } from '../cache/digest.js';

export const STAT_CACHE_VERSION = 3;
/** How close to "now" a timestamp must be to count as racy. Coarse kernel clocks tick every
 *  few ms; 50 ms leaves room for slow file systems. */
export const RACY_WINDOW_MS = 50;

const HEADER = 32;
const BOM = 0x01020304;
const NATIVE_BOM = new Uint32Array([BOM]);
const F64_PER_ROW = 4;
const RACY = 1;
const VISITED = 1;
const DROPPED = 2;

/**
 * Rows added in this process (rows of the loaded file are updated in place), columnar: a cold
 * build of a 200k-file context adds 200k rows, and an object and a hex digest string per row
 * were ~250 bytes of live heap each until the save (bench/findings.md, cold 200k RSS).
 */
class AddedRows {
  readonly rels: string[] = [];
  /** ino, size, mtimeMs, ctimeMs per row (a packed double array: no boxed numbers). */
  readonly nums: number[] = [];
  /** Permission bits, plus RACY << 16. */
  readonly modes: number[] = [];
  #digests = Buffer.alloc(32 * 256);

  get length(): number {
    return this.rels.length;
  }

  push(rel: string, st: Stats, mode: number, digest: string, racy: boolean): void {
    const j = this.rels.length;
    this.rels.push(rel);
    this.nums.push(st.ino, st.size, st.mtimeMs, st.ctimeMs);
    this.modes.push(mode | (racy ? RACY << 16 : 0));
    if ((j + 1) * 32 > this.#digests.length) {
      const grown = Buffer.alloc(this.#digests.length * 2);
      this.#digests.copy(grown);
      this.#digests = grown;
    }
    this.#digests.write(digest, j * 32, 32, 'hex');
  }

  update(j: number, st: Stats, mode: number, digest: string, racy: boolean): void {
    const k = j * F64_PER_ROW;
    this.nums[k] = st.ino;
    this.nums[k + 1] = st.size;
    this.nums[k + 2] = st.mtimeMs;
    this.nums[k + 3] = st.ctimeMs;
    this.modes[j] = mode | (racy ? RACY << 16 : 0);
    this.#digests.write(digest, j * 32, 32, 'hex');
  }

  /** Whether row `j` matches this stat and is not racy. */
  matches(j: number, st: Stats, mode: number): boolean {
    const k = j * F64_PER_ROW;
    const n = this.nums;
    return this.modes[j] === mode && n[k] === st.ino && n[k + 1] === st.size && n[k + 2] === st.mtimeMs && n[k + 3] === st.ctimeMs;
  }

  digestHex(j: number): string {
    return this.#digests.toString('hex', j * 32, j * 32 + 32);
  }

  copyDigest(j: number, to: Buffer, at: number): void {
    this.#digests.copy(to, at, j * 32, j * 32 + 32);
  }
}

export class StatCache {
  /** Rows of the loaded file, columnar. */
  readonly #paths: string[];
  readonly #nums: Float64Array;
  readonly #modes: Uint32Array;
  readonly #flags: Uint8Array;
  readonly #digests: Buffer;
  /** Rows first seen in this process: ids from #paths.length on. */
  readonly #added = new AddedRows();
  /** Path → row id; built on the first lookup that is not at the cursor. */
  #index: Map<string, number> | undefined;
  #cursor = 0;
  /** Row ids in the order they were first looked up; per loaded row, VISITED once it is in
   *  #order, DROPPED once a save left it out. */
  readonly #order: number[] = [];
  readonly #visited: Uint8Array;
  /** Directories whose whole tree was walked: a row beneath one that was not looked up is a
   *  file that is gone (or excluded), dropped at the next save. */
  readonly #walked = new Set<string>();
  #changed = false;

  private constructor(paths: string[], nums: Float64Array, modes: Uint32Array, flags: Uint8Array, digests: Buffer) {
    this.#paths = paths;
    this.#nums = nums;
    this.#modes = modes;
    this.#flags = flags;
    this.#digests = digests;
    this.#visited = new Uint8Array(paths.length);
  }

  static empty(): StatCache {
    return new StatCache([], new Float64Array(0), new Uint32Array(0), new Uint8Array(0), Buffer.alloc(0));
  }

  /** Decode a saved payload; an empty cache for anything that does not check out. */
  static decode(buf: Buffer | undefined): StatCache {
    if (!buf || buf.length < HEADER) return StatCache.empty();
    const u32 = (at: number) => buf.readUInt32LE(at);
    if (u32(0) !== STAT_CACHE_VERSION) return StatCache.empty();
    // The columns are in the writer's byte order: a store copied to a machine of the other
    // order reads as empty.
    if (!Buffer.from(NATIVE_BOM.buffer).equals(buf.subarray(4, 8))) return StatCache.empty();
    const n = u32(8);
    const pathBytes = u32(12);
    const body = buf.subarray(HEADER);
    if (body.length !== n * (F64_PER_ROW * 8 + 4 + 1 + 32) + pathBytes) return StatCache.empty();
    if (checksum(body) !== buf.toString('latin1', 16, 32)) return StatCache.empty();
    let at = 0;
    const nums = f64At(body, at, n * F64_PER_ROW);
    at += n * F64_PER_ROW * 8;
    const modes = u32At(body, at, n);
    at += n * 4;
    const flags = body.subarray(at, at + n);
    at += n;
    const digests = body.subarray(at, at + n * 32);
    at += n * 32;
    const paths = n === 0 ? [] : body.toString('utf8', at, at + pathBytes).split('\0');
    if (paths.length !== n) return StatCache.empty();
    return new StatCache(paths, nums, modes, flags, digests);
  }

  /** Rows held (loaded plus added). */
  get size(): number {
    return this.#paths.length + this.#added.length;
  }

  /** Whether save() has something to write: a row changed or added, rows to drop, or rows
   *  looked up in another order than saved. */
  get dirty(): boolean {
    if (this.#changed) return true;
    if (this.#order.length === this.#paths.length || this.#walked.size === 0) return false;
    for (let i = 0; i < this.#paths.length; i++) if (!this.#visited[i] && this.#gone(i)) return true;
    return false;
  }

  /** After a save of encode()'s bytes: nothing left to write. */
  saved(): void {
    this.#changed = false;
    for (let i = 0; i < this.#paths.length; i++) if (!this.#visited[i] && this.#gone(i)) this.#visited[i] = DROPPED;
  }

  /** Note that the whole tree beneath `dirRel` ('' the context) was walked. */
  walked(dirRel: string): void {
    this.#walked.add(dirRel);
  }

  /** The digest of `rel` if its row matches this stat and is not racy. */
  lookup(rel: string, st: Stats): BlobDigest | undefined {
    const id = this.#find(rel);
    if (id === undefined) return undefined;
    const mode = st.mode & 0o7777;
    if (id >= this.#paths.length) {
      const j = id - this.#paths.length;
      // A racy row's mode field carries RACY << 16, so it never matches.
      return this.#added.matches(j, st, mode) ? asBlobDigest(this.#added.digestHex(j)) : undefined;
    }
    const k = id * F64_PER_ROW;
    const nums = this.#nums;
    if ((this.#flags[id]! & RACY) === 0 && nums[k] === st.ino && nums[k + 1] === st.size && nums[k + 2] === st.mtimeMs && nums[k + 3] === st.ctimeMs && this.#modes[id] === mode) {
      // Not kept: 200k hex strings held for the build were old-generation garbage work.
      return asBlobDigest(this.#digests.toString('hex', id * 32, id * 32 + 32));
    }
    return undefined;
  }

  /** Record the digest of `rel` just hashed; `hashedAtMs` is the clock read before hashing. */
  set(rel: string, st: Stats, digest: string, hashedAtMs: number): void {
    const racy = Math.max(st.mtimeMs, st.ctimeMs) + RACY_WINDOW_MS >= hashedAtMs;
    const mode = st.mode & 0o7777;
    this.#changed = true;
    const id = this.#find(rel);
    if (id === undefined) {
      const newId = this.#paths.length + this.#added.length;
      this.#added.push(rel, st, mode, digest, racy);
      this.#index?.set(rel, newId);
      this.#order.push(newId);
      return;
    }
    if (id >= this.#paths.length) {
      this.#added.update(id - this.#paths.length, st, mode, digest, racy);
      return;
    }
    const k = id * F64_PER_ROW;
    this.#nums[k] = st.ino;
    this.#nums[k + 1] = st.size;
    this.#nums[k + 2] = st.mtimeMs;
    this.#nums[k + 3] = st.ctimeMs;
    this.#modes[id] = mode;
    this.#flags[id] = racy ? RACY : 0;
    this.#digests.write(digest, id * 32, 32, 'hex');
  }

  /** The payload to save: the rows looked up, in that order, then the others still live. */
  encode(): Buffer {
    const loaded = this.#paths.length;
    const ids = [...this.#order];
    for (let i = 0; i < loaded; i++) if (!this.#visited[i] && !this.#gone(i)) ids.push(i);
    const n = ids.length;
    const pathText = ids.map((id) => (id < loaded ? this.#paths[id]! : this.#added.rels[id - loaded]!)).join('\0');
    const pathBytes = Buffer.byteLength(pathText);
    const out = Buffer.alloc(HEADER + n * (F64_PER_ROW * 8 + 4 + 1 + 32) + pathBytes);
    const body = out.subarray(HEADER);
    const nums = new Float64Array(n * F64_PER_ROW);
    const modes = new Uint32Array(n);
    let at = n * (F64_PER_ROW * 8 + 4);
    for (let j = 0; j < n; j++) {
      const id = ids[j]!;
      const k = j * F64_PER_ROW;
      if (id < loaded) {
        const from = id * F64_PER_ROW;
        nums[k] = this.#nums[from]!;
        nums[k + 1] = this.#nums[from + 1]!;
        nums[k + 2] = this.#nums[from + 2]!;
        nums[k + 3] = this.#nums[from + 3]!;
        modes[j] = this.#modes[id]!;
        body[at + j] = this.#flags[id]!;
        this.#digests.copy(body, at + n + j * 32, id * 32, id * 32 + 32);
      } else {
        const a = this.#added;
        const r = id - loaded;
        const from = r * F64_PER_ROW;
        nums[k] = a.nums[from]!;
        nums[k + 1] = a.nums[from + 1]!;
        nums[k + 2] = a.nums[from + 2]!;
        nums[k + 3] = a.nums[from + 3]!;
        modes[j] = a.modes[r]! & 0xffff;
        body[at + j] = a.modes[r]! >> 16;
        a.copyDigest(r, body, at + n + j * 32);
      }
    }
    body.set(new Uint8Array(nums.buffer), 0);
    body.set(new Uint8Array(modes.buffer), n * F64_PER_ROW * 8);
    at += n + n * 32;
    body.write(pathText, at, pathBytes, 'utf8');
    out.writeUInt32LE(STAT_CACHE_VERSION, 0);
    out.set(new Uint8Array(NATIVE_BOM.buffer), 4);
    out.writeUInt32LE(n, 8);
    out.writeUInt32LE(pathBytes, 12);
    out.write(checksum(body), 16, 16, 'latin1');
    return out;
  }

  #find(rel: string): number | undefined {
    const paths = this.#paths;
    let id: number | undefined;
    let atCursor = true;
    if (this.#cursor < paths.length && paths[this.#cursor] === rel) id = this.#cursor;
    else {
      if (!this.#index) {
        this.#index = new Map();
        for (let i = 0; i < paths.length; i++) this.#index.set(paths[i]!, i);
        for (let j = 0; j < this.#added.length; j++) this.#index.set(this.#added.rels[j]!, paths.length + j);
      }
      id = this.#index.get(rel);
      atCursor = false;
    }
    if (id === undefined || id >= paths.length) return id;
    this.#cursor = id + 1;
    const v = this.#visited[id];
    if (v !== VISITED) {
      // First met off the cursor, or back after a save left it out: the saved order no
      // longer matches the walk, so save it anew.
      if (!atCursor || v === DROPPED) this.#changed = true;
      this.#visited[id] = VISITED;
      this.#order.push(id);
    }
    return id;
  }

  /** Whether loaded row `i` lies beneath a walked directory (so it was not found there). */
  #gone(i: number): boolean {
    if (this.#walked.has('')) return true;
    const p = this.#paths[i]!;
    for (let at = p.indexOf('/'); at !== -1; at = p.indexOf('/', at + 1)) if (this.#walked.has(p.slice(0, at))) return true;
    return false;
  }
}

function checksum(body: Uint8Array): string {
  const h = createXxh64();
  // Streamed in 64 KiB pieces: one call over a large buffer is ~5× slower (DESIGN.md "Hashing").
  for (let at = 0; at < body.length; at += 65536) h.update(body.subarray(at, Math.min(body.length, at + 65536)));
  return h.digest();
}

/** A Float64Array over `count` numbers at `at` in `buf`: a view when aligned, else a copy. */
function f64At(buf: Buffer, at: number, count: number): Float64Array {
  const off = buf.byteOffset + at;
  if (off % 8 === 0) return new Float64Array(buf.buffer, off, count);
  const out = new Float64Array(count);
  new Uint8Array(out.buffer).set(buf.subarray(at, at + count * 8));
  return out;
}

function u32At(buf: Buffer, at: number, count: number): Uint32Array {
  const off = buf.byteOffset + at;
  if (off % 4 === 0) return new Uint32Array(buf.buffer, off, count);
  const out = new Uint32Array(count);
  new Uint8Array(out.buffer).set(buf.subarray(at, at + count * 4));
  return out;
}
