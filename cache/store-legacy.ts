/**
 * Folders of an older store layout (`blobs-v1/`, `keys-v1/`, …). A layout bump makes the
 * store ignore them (STORE_VERSION names every folder it reads), so they only take space:
 * v1 named blobs by xxh64 and layers by xxh64 of a v1 entry list, none of which a v2 store can
 * trust or reuse, so they are not migrated but rebuilt by the next build. `stratum cache prune`
 * removes them, as its first step.
 */
import { join } from 'node:path';
import { LEGACY_FOLDER } from './store-layout.js';
import { STORE_VERSION } from './store-types.js';
import * as sfs from './fs.js';
import { treeBytes } from './owned-dirs.js';

/** Names of the legacy folders directly under the store root, sorted. */
export function legacyFolders(root: string): string[] {
  return sfs.readdir(root).filter((name) => {
    const m = LEGACY_FOLDER.exec(name);
    return m !== null && Number(m[2]) !== STORE_VERSION && sfs.stat(join(root, name))?.isDirectory() === true;
  });
}


/** Remove every legacy folder; returns their names and the bytes their files took. */
export function removeLegacyFolders(root: string): { folders: string[]; bytes: number } {
  const folders = legacyFolders(root);
  let bytes = 0;
  for (const name of folders) {
    const path = join(root, name);
    bytes += treeBytes(path);
    sfs.rmrf(path);
  }
  return { folders, bytes };
}
