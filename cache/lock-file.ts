/**
 * Lock files: `O_CREAT|O_EXCL` files holding their owner (pid, start time, host), because
 * Node has no `flock`. Creation is the atomic step: of several processes that try at once,
 * exactly one creates the file. A lock whose owner is gone (killed with -9, the machine
 * rebooted) is stale and is broken by the next process that wants it:
 *
 *   1. rename the lock to a unique name (atomic: of several breakers, one wins the rename);
 *   2. read what was renamed: if it is the dead owner we saw, delete it and try to create
 *      ours; if it is a live owner (it replaced the stale lock between our read and our
 *      rename), put it back with link(), which never overwrites.
 *
 * Residual race, documented rather than hidden: step 2 puts a live lock back only if no
 * third process created one in the instant the path was empty. That needs three processes,
 * one of them breaking a stale lock, within microseconds; the loser then shares the
 * directory, which for a workspace means a later build re-verifies it (dirty marker).
 */
import { randomBytes } from 'node:crypto';
import { ownerAlive, parseOwner, selfOwner, type ProcessOwner } from './process-owner.js';
import * as sfs from './fs.js';

export interface LockFile {
  readonly path: string;
  /** Remove the lock if it is still ours. Idempotent. */
  release(): void;
}

/** What a lock file says, or undefined when it is absent; `owner` undefined when unreadable. */
export function readLock(path: string): { owner: ProcessOwner | undefined; text: string } | undefined {
  const buf = sfs.readFile(path);
  if (buf === undefined) return undefined;
  const text = buf.toString('utf8');
  let owner: ProcessOwner | undefined;
  try {
    owner = parseOwner(JSON.parse(text));
  } catch {
    owner = undefined;
  }
  return { owner, text };
}

/** An unreadable lock (a crash between create and write) older than this is stale. */
const TORN_LOCK_MS = 10_000;

/** Whether the lock at `path` is held by a live process. */
export function lockHeld(path: string): boolean {
  const l = readLock(path);
  if (!l) return false;
  if (l.owner) return ownerAlive(l.owner);
  const st = sfs.stat(path);
  return st !== undefined && Date.now() - st.mtimeMs < TORN_LOCK_MS;
}

/** Take the lock at `path` now, or return undefined when a live process holds it. */
export function tryLock(path: string): LockFile | undefined {
  const me = selfOwner();
  const text = JSON.stringify({ ...me, nonce: randomBytes(6).toString('hex'), at: Date.now() });
  for (let attempt = 0; attempt < 3; attempt++) {
    if (sfs.createExclusive(path, text)) return held(path, text);
    const seen = readLock(path);
    if (!seen) continue; // released meanwhile: try again
    if (lockHeld(path)) return undefined;
    breakStale(path, seen.text);
  }
  return undefined;
}

function breakStale(path: string, staleText: string): void {
  const aside = `${path}.break-${randomBytes(6).toString('hex')}`;
  try {
    sfs.rename(path, aside);
  } catch {
    return; // another process broke it first
  }
  const got = sfs.readFile(aside)?.toString('utf8');
  if (got !== undefined && got !== staleText) sfs.link(aside, path); // a live lock: put it back
  sfs.unlink(aside);
}

function held(path: string, text: string): LockFile {
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      // Only remove it if it is still ours (a breaker could have judged us dead wrongly
      // only across hosts; never remove another process's lock).
      if (sfs.readFile(path)?.toString('utf8') === text) sfs.unlink(path);
    },
  };
}
