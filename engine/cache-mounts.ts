/**
 * `RUN --mount=type=cache,target=T[,id=I][,sharing=shared|private|locked]`: a persistent
 * directory of the store (a slot of `cache-mounts/<id>`, cache/owned-dirs.ts), shared by
 * every build of every project that names the same id, which the executor places at the
 * target (a bind mount in the sandbox, a symlink on the host). Its contents are never part
 * of a layer or a key (the key holds only target and id).
 *
 * Sharing, as BuildKit defines it:
 * - `shared` (the default): every user at once uses slot 0, no lock; the build's lease
 *   names the directory, so prune leaves it alone while the build lives;
 * - `private`: a user takes the first slot no one holds, so concurrent users get separate
 *   copies (a new slot starts empty, as BuildKit's does);
 * - `locked`: slot 0 only, under an exclusive lock; a second user waits for it.
 * */
import type { Lease } from '../cache/leases.js';
import { MAX_SLOTS, type OwnedDir } from '../cache/owned-dirs.js';
import type { Store } from '../cache/store-types.js';
import type { Mount } from './dockerfile/types.js';

export interface MountOptions {
  lease?: Lease;
  signal?: AbortSignal;
  /** Called when a mount's directory was busy: it took `slot` after `waitedMs`. */
  onContention?: (id: string, slot: number, waitedMs: number) => void;
  /** Fill a cache mount's directory before first use (from a --cache-from cache that
   *  carries it: engine/cache-import.ts); called with the slot held, before the RUN sees it. */
  seed?: (id: string, dir: OwnedDir) => Promise<void>;
}

export const CACHE_MOUNTS = 'cache-mounts';
const POLL_MS = 25;

/** Acquire a cache mount's directory as its sharing mode says, waiting while it is locked. */
export async function acquireCache(store: Store, id: string, sharing: Mount['sharing'], o: MountOptions): Promise<OwnedDir> {
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
