/**
 * Every filesystem call of the store goes through this module, for three reasons:
 *
 * - errors are converted in one place: "not there" becomes `undefined`/`false` where the
 *   store asks for it, anything else a StoreError('EIO', …, {op, path, errno});
 * - fault injection hooks in here, so a test can make the store crash (or fail) at its Nth
 *   filesystem call and check that no instant leaves an entry that lies;
 * - the calls are counted, so such a test knows how many instants there are.
 *
 * Fault plans come from `STRATUM_STORE_FAULT` (read once, at load) or `setStoreFault()`:
 *   `kill@N`  the Nth call kills the process with SIGKILL (a crash: no finally, no flush);
 *             when that call is a write, half of the bytes are written first (a torn write);
 *   `throw@N` the Nth call throws StoreError('EIO') instead of running.
 * Counting is per process, over every store in it. Nothing here keeps state about stores.
 *
 * Everything is synchronous on purpose: the engine calls the store synchronously, and for
 * the small files a build writes a sync loop beats promise overhead.
 */
import * as fs from 'node:fs';
import { StoreError } from './store-types.js';

export type Stats = fs.Stats;

export interface FaultPlan {
  action: 'kill' | 'throw';
  /** 1-based index of the call that fails, counted from when the plan was set. */
  at: number;
}

let calls = 0;
let fault: FaultPlan | undefined = parseFault(process.env.STRATUM_STORE_FAULT);

/** Parse `kill@17` / `throw@3`; undefined for anything else. */
export function parseFault(spec: string | undefined): FaultPlan | undefined {
  const m = /^(kill|throw)@([1-9][0-9]*)$/.exec(spec ?? '');
  return m ? { action: m[1] as FaultPlan['action'], at: Number(m[2]) } : undefined;
}

/** Set (or clear) the fault plan and restart the call count. For tests. */
export function setStoreFault(plan: FaultPlan | undefined): void {
  fault = plan;
  calls = 0;
}

/** Filesystem calls made through this module since load or the last setStoreFault(). */
export function fsCallCount(): number {
  return calls;
}

/** Count one call and apply the fault plan. `torn` runs a partial version of the call
 *  before a kill (half of a write), so crashes can also land in the middle of a write. */
function enter(op: string, path: string, torn?: () => void): void {
  calls++;
  if (!fault || calls !== fault.at) return;
  if (fault.action === 'kill') {
    torn?.();
    process.kill(process.pid, 'SIGKILL');
    // SIGKILL to ourselves is not delivered synchronously everywhere; never run the call.
    for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
  }
  throw new StoreError('EIO', `injected fault at filesystem call ${calls} (${op} ${path})`, { op, path, injected: true });
}

function errnoOf(err: unknown): string | undefined {
  return err && typeof err === 'object' && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

function fail(op: string, path: string, err: unknown): never {
  if (err instanceof StoreError) throw err;
  const errno = errnoOf(err);
  const why = err instanceof Error ? err.message : String(err);
  throw new StoreError('EIO', `store: ${op} failed for ${path}: ${why}`, { op, path, errno });
}

const isMissing = (err: unknown) => {
  const c = errnoOf(err);
  return c === 'ENOENT' || c === 'ENOTDIR';
};

/** Contents of a file, or undefined when it does not exist. */
export function readFile(path: string): Buffer | undefined {
  enter('readFile', path);
  try {
    return fs.readFileSync(path);
  } catch (err) {
    if (isMissing(err)) return undefined;
    fail('readFile', path, err);
  }
}

/** lstat, or undefined when the path does not exist. `throwIfNoEntry: false` because "absent"
 *  is the common answer for a new blob, and building the ENOENT exception was 38% of a cold
 *  build's blob-write time (bench/RESULTS.md, finding 3). */
export function stat(path: string): Stats | undefined {
  enter('stat', path);
  try {
    return fs.lstatSync(path, { throwIfNoEntry: false });
  } catch (err) {
    if (isMissing(err)) return undefined;
    fail('stat', path, err);
  }
}

/** Names in a directory, sorted; [] when it does not exist. */
export function readdir(path: string): string[] {
  enter('readdir', path);
  try {
    return fs.readdirSync(path).sort();
  } catch (err) {
    if (isMissing(err)) return [];
    fail('readdir', path, err);
  }
}

export function mkdirp(path: string): void {
  enter('mkdir', path);
  try {
    fs.mkdirSync(path, { recursive: true });
  } catch (err) {
    fail('mkdir', path, err);
  }
}

/** Open for reading; undefined when the file does not exist. */
export function openRead(path: string): number | undefined {
  enter('open', path);
  try {
    return fs.openSync(path, 'r');
  } catch (err) {
    if (isMissing(err)) return undefined;
    fail('open', path, err);
  }
}

/** Create a new file exclusively (`wx`): never opens something that is already there. */
export function openExclusive(path: string, mode: number): number {
  enter('open', path);
  try {
    return fs.openSync(path, 'wx', mode);
  } catch (err) {
    fail('open', path, err);
  }
}

export function fstat(fd: number, path: string): Stats {
  enter('fstat', path);
  try {
    return fs.fstatSync(fd);
  } catch (err) {
    fail('fstat', path, err);
  }
}

/** Read up to `length` bytes into `buf` at the current position; 0 at end of file. */
export function read(fd: number, buf: Uint8Array, length: number, path: string): number {
  enter('read', path);
  try {
    return fs.readSync(fd, buf, 0, length, null);
  } catch (err) {
    fail('read', path, err);
  }
}

/** Write all of `data` at the current position. */
export function writeAll(fd: number, data: Uint8Array, path: string): void {
  enter('write', path, () => {
    if (data.length > 1) fs.writeSync(fd, data, 0, data.length >> 1);
  });
  try {
    let off = 0;
    while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
  } catch (err) {
    fail('write', path, err);
  }
}

export function close(fd: number, path: string): void {
  enter('close', path);
  try {
    fs.closeSync(fd);
  } catch (err) {
    fail('close', path, err);
  }
}

/** Atomic replace: after this, `to` is the complete new file; before, the old one (or none). */
export function rename(from: string, to: string): void {
  enter('rename', to);
  try {
    fs.renameSync(from, to);
  } catch (err) {
    fail('rename', `${from} -> ${to}`, err);
  }
}

/** Remove a file; false when it was not there. */
export function unlink(path: string): boolean {
  enter('unlink', path);
  try {
    fs.unlinkSync(path);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    fail('unlink', path, err);
  }
}

/** Remove a file or a whole tree; no error when it is not there. */
export function rmrf(path: string): void {
  enter('rm', path);
  try {
    fs.rmSync(path, { recursive: true, force: true });
  } catch (err) {
    fail('rm', path, err);
  }
}

/** Set atime and mtime (epoch ms); false when the file is not there. */
export function utimes(path: string, ms: number): boolean {
  enter('utimes', path);
  try {
    const t = ms / 1000;
    fs.utimesSync(path, t, t);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    fail('utimes', path, err);
  }
}

/** Hard-link `to` to the file `from`; false when `to` already exists (never replaces). */
export function link(from: string, to: string): boolean {
  enter('link', to);
  try {
    fs.linkSync(from, to);
    return true;
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') return false;
    fail('link', `${from} -> ${to}`, err);
  }
}

/** Hard-link `to` to `from` where the file system allows it: 'linked', 'exists' when `to`
 *  is there already (never replaced), 'unlinkable' when this file system or these two paths
 *  cannot share an inode (another file system, hard links unsupported or not permitted), so
 *  the caller copies instead. Other errors throw. */
export function tryLink(from: string, to: string): 'linked' | 'exists' | 'unlinkable' {
  enter('link', to);
  try {
    fs.linkSync(from, to);
    return 'linked';
  } catch (err) {
    const c = errnoOf(err);
    if (c === 'EEXIST') return 'exists';
    if (c === 'EXDEV' || c === 'EPERM' || c === 'EMLINK' || c === 'ENOTSUP' || c === 'EOPNOTSUPP' || c === 'ENOSYS') return 'unlinkable';
    fail('link', `${from} -> ${to}`, err);
  }
}

/** chmod; false when the file is not there. */
export function chmod(path: string, mode: number): boolean {
  enter('chmod', path);
  try {
    fs.chmodSync(path, mode);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    fail('chmod', path, err);
  }
}

/** Create `path` exclusively with `data` (O_CREAT|O_EXCL); false when it already exists.
 *  The one primitive every store lock is built on: `flock` is not in Node's API. */
export function createExclusive(path: string, data: string): boolean {
  enter('open', path);
  let fd: number;
  try {
    fd = fs.openSync(path, 'wx', 0o644);
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') return false;
    fail('open', path, err);
  }
  try {
    writeAll(fd, Buffer.from(data), path);
  } finally {
    close(fd, path);
  }
  return true;
}
