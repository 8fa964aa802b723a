/**
 * `RUN --mount=type=cache,target=T[,id=I]` for the host executor: during the RUN, the target
 * path in the workspace is a symlink to a persistent directory in the store
 * (`dirs/cache-mounts/<id>`), shared by every build of every project that names the same id.
 * Its contents are never part of a layer or a key (the key holds only target and id).
 *
 * Whatever the workspace had at the target is moved aside for the RUN and put back after,
 * so the snapshot sees the tree as it was. Limit: a command that deletes the symlink itself
 * (not its contents) and recreates a real directory loses the mount for that run, and its
 * files become part of the layer, as they would without a mount.
 */
import { existsSync, lstatSync, mkdirSync, renameSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import type { Store } from '../cache/store-types.js';
import type { Mount } from './dockerfile/types.js';

export interface MountedCaches {
  /** Workspace-relative paths to leave out of the snapshot. */
  skip: Set<string>;
  /** Undo the mounts: remove the symlinks, put back what was there. Idempotent. */
  release(): void;
}

export function mountCaches(store: Store, root: string, workdir: string, mounts: Mount[]): MountedCaches {
  const undo: (() => void)[] = [];
  const skip = new Set<string>();
  for (const m of mounts) {
    if (m.type !== 'cache') continue;
    const rel = posix.resolve(workdir || '/', m.target || '.').replace(/^\/+/, '');
    if (rel === '') continue; // a cache over the whole root would hide the workspace
    const abs = join(root, rel);
    const cacheDir = store.dir('cache-mounts', m.id ?? posix.resolve('/', m.target));
    mkdirSync(dirname(abs), { recursive: true });
    let aside: string | undefined;
    if (existsOrLink(abs)) {
      aside = `${abs}.stratum-aside`;
      rmSync(aside, { recursive: true, force: true });
      renameSync(abs, aside);
    }
    symlinkSync(cacheDir, abs);
    skip.add(rel);
    undo.push(() => {
      if (existsOrLink(abs) && lstatSync(abs).isSymbolicLink()) unlinkSync(abs);
      if (aside) {
        rmSync(abs, { recursive: true, force: true });
        renameSync(aside, abs);
      }
    });
  }
  let released = false;
  return {
    skip,
    release() {
      if (released) return;
      released = true;
      for (const u of undo.reverse()) u();
    },
  };
}

function existsOrLink(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return existsSync(p);
  }
}
