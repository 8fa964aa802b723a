/**
 * `RUN --mount=type=cache,target=T[,id=I][,sharing=shared|private|locked]` for the host
 * executor: during the RUN, the target path in the workspace is a symlink to a persistent
 * directory of the store (a slot of `cache-mounts/<id>`, cache/owned-dirs.ts), shared by
 * every build of every project that names the same id. Its contents are never part of a
 * layer or a key (the key holds only target and id).
 *
 * Sharing, as BuildKit defines it:
 * - `shared` (the default): every user at once uses slot 0, no lock; the build's lease
 *   names the directory, so prune leaves it alone while the build lives;
 * - `private`: a user takes the first slot no one holds, so concurrent users get separate
 *   copies (a new slot starts empty, as BuildKit's does);
 * - `locked`: slot 0 only, under an exclusive lock; a second user waits for it.
 *
 * Whatever the workspace had at the target is moved aside for the RUN and put back after,
 * so the snapshot sees the tree as it was. Limit: a command that deletes the symlink itself
 * (not its contents) and recreates a real directory loses the mount for that run, and its
 * files become part of the layer, as they would without a mount.
 */
import { existsSync, lstatSync, mkdirSync, renameSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import type { Lease } from '../cache/leases.js';
import { MAX_SLOTS, type OwnedDir } from '../cache/owned-dirs.js';
import type { Store } from '../cache/store-types.js';
import type { Mount } from './dockerfile/types.js';

export interface MountedCaches {
  /** Workspace-relative paths to leave out of the snapshot. */
  skip: Set<string>;
  /** Undo the mounts: remove the symlinks, put back what was there, release the slots. Idempotent. */
  release(): void;
}

export interface MountOptions {
  lease?: Lease;
  signal?: AbortSignal;
  /** Called when a mount's directory was busy: it took `slot` after `waitedMs`. */
  onContention?: (id: string, slot: number, waitedMs: number) => void;
}

export const CACHE_MOUNTS = 'cache-mounts';
const POLL_MS = 25;

/** Acquire a cache mount's directory as its sharing mode says, waiting while it is locked. */
async function acquireCache(store: Store, id: string, sharing: Mount['sharing'], o: MountOptions): Promise<OwnedDir> {
  const t0 = performance.now();
  let waited = false;
  for (;;) {
    const got =
      sharing === 'locked' ? store.acquireDir(CACHE_MOUNTS, id, { slots: 1 })
      : sharing === 'private' ? store.acquireDir(CACHE_MOUNTS, id, { slots: MAX_SLOTS })
      : store.acquireDir(CACHE_MOUNTS, id, { mode: 'shared' });
    if (got) {
      if (waited || got.slot > 0) o.onContention?.(id, got.slot, waited ? Math.round(performance.now() - t0) : 0);
      return got;
    }
    if (o.signal?.aborted) throw new Error('cancelled while waiting for a cache mount');
    waited = true;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

export async function mountCaches(store: Store, root: string, workdir: string, mounts: Mount[], o: MountOptions = {}): Promise<MountedCaches> {
  const undo: (() => void)[] = [];
  const skip = new Set<string>();
  let released = false;
  const result: MountedCaches = {
    skip,
    release() {
      if (released) return;
      released = true;
      for (const u of undo.reverse()) u();
    },
  };
  try {
    for (const m of mounts) {
      if (m.type !== 'cache') continue;
      const rel = posix.resolve(workdir || '/', m.target || '.').replace(/^\/+/, '');
      if (rel === '') continue; // a cache over the whole root would hide the workspace
      const abs = join(root, rel);
      const id = m.id ?? posix.resolve('/', m.target);
      const owned = await acquireCache(store, id, m.sharing ?? 'shared', o);
      undo.push(() => owned.release());
      o.lease?.add({ dirs: [owned.path] });
      mkdirSync(dirname(abs), { recursive: true });
      let aside: string | undefined;
      if (existsOrLink(abs)) {
        aside = `${abs}.stratum-aside`;
        rmSync(aside, { recursive: true, force: true });
        renameSync(abs, aside);
      }
      symlinkSync(owned.path, abs);
      skip.add(rel);
      undo.push(() => {
        if (existsOrLink(abs) && lstatSync(abs).isSymbolicLink()) unlinkSync(abs);
        if (aside) {
          rmSync(abs, { recursive: true, force: true });
          renameSync(aside, abs);
        }
      });
    }
  } catch (err) {
    result.release();
    throw err;
  }
  return result;
}

function existsOrLink(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return existsSync(p);
  }
}
