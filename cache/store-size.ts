/**
 * size(): bytes of blobs + manifests + keys. The engine asks after every build (the TUI
 * shows it), so walking every file each time would cost a stat per blob: ~200 ms per
 * rebuild for 50k blobs (DESIGN.md: lstat of 50k files, 200 ms).
 *
 * Instead each fan-out folder's total is remembered with the folder's mtime. Store files
 * never change size in place (they appear and go by rename and unlink, both of which move
 * the folder's mtime; touching a key's mtime does not change its size), so an unchanged
 * folder mtime means an unchanged total, and a warm size() is one stat per folder
 * (3 × 256). As in git's racy-clean rule, a folder whose mtime is within RACY_MS of when it
 * was listed is not remembered: a change in the same timestamp tick would not move it.
 */
import { join } from 'node:path';
import type { StoreState } from './store-state.js';
import * as sfs from './fs.js';

const RACY_MS = 2_000;

export function storeSize(s: StoreState): number {
  const L = s.layout;
  let total = 0;
  for (const base of [L.blobDir, L.layerDir, L.keyDir]) {
    for (const fan of sfs.readdir(base)) {
      const dir = join(base, fan);
      const st = sfs.stat(dir);
      if (!st) continue;
      if (!st.isDirectory()) {
        if (st.isFile()) total += st.size; // a stray file; verify removes it
        continue;
      }
      const known = s.sizes.get(dir);
      if (known && known.mtimeMs === st.mtimeMs) {
        total += known.bytes;
        continue;
      }
      const listedAt = Date.now();
      let bytes = 0;
      for (const name of sfs.readdir(dir)) {
        const f = sfs.stat(join(dir, name));
        if (f?.isFile()) bytes += f.size;
      }
      if (listedAt - st.mtimeMs > RACY_MS) s.sizes.set(dir, { mtimeMs: st.mtimeMs, bytes });
      else s.sizes.delete(dir);
      total += bytes;
    }
  }
  return total;
}
