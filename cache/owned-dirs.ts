/**
 * Mutable directories of the store (workspaces, cache mounts, extracted layers, import
 * staging) are owned through this module only. Each name gets a folder of **slots**:
 *
 *   dirs/<kind>/<xxh64(name)>/
 *     about.json     {name, paths}: the name, and the paths whose existence keeps it (prune)
 *     <n>/           slot n: the directory handed out
 *     <n>.lock       held while a process uses slot n exclusively (lock-file.ts)
 *     <n>.dirty      exists from before the first change of slot n until it is known again
 *     <n>.used       its mtime is the slot's last use (least-recently-used pruning)
 *     <n>.<file>.json  small state of the slot's user (the workspace's records)
 *
 * Exclusive users take the first free slot (`<id>/0`, `<id>/1`, …): two builds of one
 * project never share a workspace; the second gets its own. Shared users (a cache mount
 * with `sharing=shared`) take slot 0 without a lock and name it in their lease instead.
 *
 * A process the owner started in the slot (a RUN, in its own process group) is recorded in
 * `<n>.child.json` (pid + start time). When an owner dies with kill -9, that group lives on
 * and would keep writing into the tree; the next owner of the slot kills it first.
 *
 * The dirty marker is the crash rule: a user calls markDirty() before it changes anything,
 * and markClean() once its records describe the tree again. A slot found dirty was left
 * mid-change (kill -9, a failed RUN); its user must re-verify it or rebuild it from empty.
 */
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-write.js';
import { lockHeld, tryLock, type LockFile } from './lock-file.js';
import { StoreError } from './store-types.js';
import type { StoreState } from './store-state.js';
import { processStart } from './process-owner.js';
import * as sfs from './fs.js';

export interface AcquireOptions {
  /** `exclusive` (default): a lock per slot; `shared`: slot 0, no lock. */
  mode?: 'exclusive' | 'shared';
  /** Slots to try, first free wins (default 1: wait for slot 0 instead of taking another). */
  slots?: number;
  /** Paths this directory is about (a context): prune drops it once none of them exists. */
  about?: string[];
  /** Exactly this slot, exclusively (a reader of every slot: the cache-mount export). */
  slot?: number;
  /** Leave the slot's last use as it was: reading it is not using it (its recency orders
   *  a cache export's slots). */
  keepLastUse?: boolean;
}

export interface OwnedDir {
  readonly kind: string;
  readonly name: string;
  readonly slot: number;
  /** The slot directory (exists). */
  readonly path: string;
  /** A dirty marker was there when the slot was acquired. */
  readonly foundDirty: boolean;
  /** Record that the slot is about to change. Cheap after the first call. */
  markDirty(): void;
  /** Record that the slot's user knows its contents again. */
  markClean(): void;
  /** Empty the slot (rebuild from empty). */
  reset(): void;
  readJson<T>(file: string): T | undefined;
  writeJson(file: string, value: unknown): void;
  /** Record the process group leader `pid` started in this slot (cleared with undefined). */
  child(pid: number | undefined): void;
  /** Touch last use and drop the lock. Idempotent. */
  release(): void;
  /** Delete the slot and everything of it, then drop the lock (scratch space: import staging). */
  remove(): void;
}

const FILE = /^[a-z0-9][a-z0-9-]{0,31}$/;
/** More slots than this for one name means something leaks; fail loudly instead. */
export const MAX_SLOTS = 64;

/** Take a slot of `kind`/`name`, or undefined when every allowed slot is locked by a live
 *  process (the caller waits and tries again). */
export function acquireDir(s: StoreState, kind: string, name: string, opts: AcquireOptions = {}): OwnedDir | undefined {
  const base = s.layout.dir(kind, name);
  s.dirs.ensure(base);
  const about = join(base, 'about.json');
  if (!sfs.stat(about)) writeFileAtomic(s.dirs, s.layout.tmpDir, about, JSON.stringify({ kind, name, paths: opts.about ?? [] }));
  const slots = Math.min(opts.slots ?? 1, MAX_SLOTS);
  if (opts.mode === 'shared') return handle(s, kind, name, base, 0, undefined, opts.keepLastUse);
  const first = opts.slot ?? 0;
  for (let n = first; n < (opts.slot !== undefined ? first + 1 : slots); n++) {
    const lock = tryLock(join(base, `${n}.lock`));
    if (lock) return handle(s, kind, name, base, n, lock, opts.keepLastUse);
  }
  return undefined;
}

/** The slots `kind`/`name` has, most recently used first. */
export function slotsOf(s: StoreState, kind: string, name: string): { slot: number; lastUse: number }[] {
  const base = s.layout.dir(kind, name);
  const out: { slot: number; lastUse: number }[] = [];
  for (const entry of sfs.readdir(base)) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const used = sfs.stat(join(base, `${entry}.used`)) ?? sfs.stat(join(base, entry));
    out.push({ slot: Number(entry), lastUse: used?.mtimeMs ?? 0 });
  }
  return out.sort((a, b) => b.lastUse - a.lastUse || a.slot - b.slot);
}

function handle(s: StoreState, kind: string, name: string, base: string, n: number, lock: LockFile | undefined, keepLastUse = false): OwnedDir {
  const path = join(base, String(n));
  const dirty = join(base, `${n}.dirty`);
  const used = join(base, `${n}.used`);
  sfs.mkdirp(path);
  const childFile = join(base, `${n}.child.json`);
  if (lock) killLeftover(childFile);
  const foundDirty = sfs.stat(dirty) !== undefined;
  let isDirty = foundDirty;
  const touch = () => {
    if (keepLastUse && sfs.stat(used)) return;
    if (!sfs.utimes(used, Date.now())) writeFileAtomic(s.dirs, s.layout.tmpDir, used, '');
  };
  touch();
  const file = (f: string) => {
    if (!FILE.test(f)) throw new StoreError('EINVALID', `store: invalid slot file name ${JSON.stringify(f)}`, { file: f });
    return join(base, `${n}.${f}.json`);
  };
  let released = false;
  return {
    kind,
    name,
    slot: n,
    path,
    foundDirty,
    markDirty() {
      if (isDirty) return;
      writeFileAtomic(s.dirs, s.layout.tmpDir, dirty, '');
      isDirty = true;
    },
    markClean() {
      if (!isDirty) return;
      sfs.unlink(dirty);
      isDirty = false;
    },
    child(pid) {
      if (pid === undefined) sfs.unlink(childFile);
      else writeFileAtomic(s.dirs, s.layout.tmpDir, childFile, JSON.stringify({ pid, start: processStart(pid) ?? '' }));
    },
    reset() {
      sfs.rmrf(path);
      sfs.mkdirp(path);
    },
    readJson<T>(f: string): T | undefined {
      const text = sfs.readFile(file(f));
      if (text === undefined) return undefined;
      try {
        return JSON.parse(text.toString('utf8')) as T;
      } catch {
        return undefined;
      }
    },
    writeJson(f, value) {
      writeFileAtomic(s.dirs, s.layout.tmpDir, file(f), JSON.stringify(value));
    },
    release() {
      if (released) return;
      released = true;
      try {
        touch();
      } finally {
        lock?.release();
      }
    },
    remove() {
      if (released) return;
      released = true;
      try {
        sfs.rmrf(path);
        for (const f of sfs.readdir(base)) if (f.startsWith(`${n}.`) && f !== `${n}.lock`) sfs.unlink(join(base, f));
        if (lock) sfs.rmrf(base); // our own unique name: nobody else can be creating it
      } finally {
        lock?.release();
      }
    },
  };
}

/** Kill the process group a dead owner left running in the slot, and wait (≤ 2 s) for it. */
function killLeftover(childFile: string): void {
  const text = sfs.readFile(childFile);
  if (!text) return;
  let rec: { pid?: unknown; start?: unknown } = {};
  try {
    rec = JSON.parse(text.toString('utf8')) as typeof rec;
  } catch {
    /* torn: nothing to kill */
  }
  const pid = typeof rec.pid === 'number' && rec.pid > 1 ? rec.pid : undefined;
  if (pid !== undefined) {
    const alive = () => {
      const st = processStart(pid);
      return st !== undefined && (rec.start === '' || st === '' || st === rec.start);
    };
    if (alive()) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
      const sleeper = new Int32Array(new SharedArrayBuffer(4));
      for (let i = 0; i < 200 && alive(); i++) Atomics.wait(sleeper, 0, 0, 10);
    }
  }
  sfs.unlink(childFile);
}

/** One slot as prune sees it. */
export interface SlotInfo {
  kind: string;
  name: string;
  /** The slot directory. */
  path: string;
  base: string;
  slot: number;
  lastUse: number;
  locked: boolean;
  dirty: boolean;
  /** Paths the directory is about; [] when unknown. */
  about: string[];
}

/** Every slot of `kind`, with its last use and whether a live process holds it. */
export function listSlots(s: StoreState, kind: string): SlotInfo[] {
  const kindDir = join(s.layout.root, 'dirs', kind);
  const out: SlotInfo[] = [];
  for (const h of sfs.readdir(kindDir)) {
    const base = join(kindDir, h);
    let name = '';
    let about: string[] = [];
    const text = sfs.readFile(join(base, 'about.json'));
    if (text) {
      try {
        const a = JSON.parse(text.toString('utf8')) as { name?: unknown; paths?: unknown };
        if (typeof a.name === 'string') name = a.name;
        if (Array.isArray(a.paths)) about = a.paths.filter((p): p is string => typeof p === 'string');
      } catch {
        /* unknown: kept by age only */
      }
    }
    for (const entry of sfs.readdir(base)) {
      if (!/^[0-9]+$/.test(entry)) continue;
      const n = Number(entry);
      const used = sfs.stat(join(base, `${n}.used`)) ?? sfs.stat(join(base, entry));
      out.push({
        kind,
        name,
        path: join(base, entry),
        base,
        slot: n,
        lastUse: used?.mtimeMs ?? 0,
        locked: lockHeld(join(base, `${n}.lock`)),
        dirty: sfs.stat(join(base, `${n}.dirty`)) !== undefined,
        about,
      });
    }
  }
  return out;
}

/** Remove a slot, unless a live process holds it: its lock is taken first, so no build can
 *  acquire it while it is being removed. False when it was busy. */
export function removeSlot(slot: SlotInfo): boolean {
  const lock = tryLock(join(slot.base, `${slot.slot}.lock`));
  if (!lock) return false;
  try {
    // Dirty first: a crash in the middle leaves a slot its next user rebuilds.
    sfs.rmrf(join(slot.base, `${slot.slot}.dirty`));
    sfs.createExclusive(join(slot.base, `${slot.slot}.dirty`), '');
    sfs.rmrf(slot.path);
    for (const f of sfs.readdir(slot.base)) {
      if (f.startsWith(`${slot.slot}.`) && f !== `${slot.slot}.lock`) sfs.unlink(join(slot.base, f));
    }
  } finally {
    lock.release();
  }
  // The name's folder (about.json) stays: removing it could race a build creating a slot.
  return true;
}

/** Bytes of the regular files under `dir` (iterative: workspaces can be deep). */
export function treeBytes(dir: string): number {
  let n = 0;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    for (const name of sfs.readdir(d)) {
      const p = join(d, name);
      const st = sfs.stat(p);
      if (st?.isDirectory()) stack.push(p);
      else if (st?.isFile()) n += st.size;
    }
  }
  return n;
}
