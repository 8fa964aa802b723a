/**
 * `stratum cache verify`: an ordered list of named, timed steps (cacache lib/verify.js).
 * Bottom up, so each step can trust what the previous one kept:
 *
 *   1. remove stale temp files   (their writer is gone, or they are older than an hour)
 *   2. check blobs               (bytes hash to the name; else removed)
 *   3. check layers              (manifest parses and hashes to its name, every blob kept
 *                                 by step 2 with the size the entry says; else removed)
 *   4. check keys                (parses, names a layer kept by step 3; else removed)
 *   5. publish removals          (rewrite the epoch, so other store objects drop caches)
 *
 * Images are left alone: an image is what the user tagged, and its layers are rebuilt by
 * the next build of it. Removing in this order keeps the store consistent at every instant.
 */
import { asLayerDigest, asStepKey } from './digest.js';
import type { VerifyReport } from './store-types.js';
import { tempOwner } from './atomic-write.js';
import { decodeLayer } from './layer-manifest.js';
import { decodeKey } from './key-file.js';
import { hashStoredFile } from './read-blob.js';
import { walkFanned } from './store-walk.js';
import { bumpEpoch, type StoreState } from './store-state.js';
import { step } from './timed-steps.js';
import { join } from 'node:path';
import { readLeases } from './leases.js';
import * as sfs from './fs.js';

export interface VerifyOptions {
  /** A temp file older than this is stale even if its writer's pid is alive (pids get
   *  reused, and other hosts may share the store). Default one hour. */
  staleTempMs?: number;
}

export function verifyStore(s: StoreState, opts: VerifyOptions = {}): VerifyReport {
  const report: VerifyReport = {
    steps: [],
    checkedBlobs: 0,
    badBlobs: 0,
    checkedLayers: 0,
    badLayers: 0,
    checkedKeys: 0,
    badKeys: 0,
    removedTemp: 0,
  };
  const { steps } = report;
  const L = s.layout;

  // A live lease's owner is writing: its temp files are not stale, whatever their age.
  step(steps, 'remove stale temp files', () => {
    report.removedTemp = removeStaleTemp(s, opts.staleTempMs ?? 60 * 60_000, readLeases(s).pids);
  });

  const blobs = new Map<string, number>();
  step(steps, 'check blobs', () => {
    for (const f of walkFanned(L.blobDir, '')) {
      report.checkedBlobs++;
      const found = f.digest !== undefined ? hashStoredFile(f.path) : undefined;
      if (found && found.digest === f.digest) blobs.set(f.digest, found.size);
      else {
        sfs.unlink(f.path);
        report.badBlobs++;
      }
    }
  });

  const layers = new Set<string>();
  step(steps, 'check layers', () => {
    for (const f of walkFanned(L.layerDir, '.json')) {
      report.checkedLayers++;
      const text = f.digest !== undefined ? sfs.readFile(f.path) : undefined;
      const layer = text && f.digest !== undefined ? decodeLayer(text.toString('utf8'), asLayerDigest(f.digest), { full: true }) : undefined;
      if (layer && layer.entries.every((e) => e.type !== 'file' || blobs.get(e.digest) === e.size)) layers.add(layer.digest);
      else {
        sfs.unlink(f.path);
        report.badLayers++;
      }
    }
  });

  step(steps, 'check keys', () => {
    for (const f of walkFanned(L.keyDir, '.json')) {
      report.checkedKeys++;
      const text = f.digest !== undefined ? sfs.readFile(f.path) : undefined;
      const rec = text && f.digest !== undefined ? decodeKey(text.toString('utf8'), asStepKey(f.digest)) : undefined;
      if (!rec || (rec.layer !== null && !layers.has(rec.layer))) {
        sfs.unlink(f.path);
        report.badKeys++;
      }
    }
  });

  step(steps, 'publish removals', () => {
    if (report.badBlobs + report.badLayers + report.badKeys > 0) bumpEpoch(s);
  });
  return report;
}

function removeStaleTemp(s: StoreState, staleMs: number, leased: Set<number>): number {
  const now = Date.now();
  let removed = 0;
  for (const name of sfs.readdir(s.layout.tmpDir)) {
    const path = join(s.layout.tmpDir, name);
    const st = sfs.stat(path);
    if (!st) continue;
    const owner = tempOwner(name);
    const stale = owner === undefined || !processAlive(owner) || (now - st.mtimeMs > staleMs && !leased.has(owner));
    if (stale) {
      sfs.rmrf(path);
      removed++;
    }
  }
  return removed;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but is not ours to signal. Anything else (ESRCH): gone.
    return (err as { code?: unknown }).code === 'EPERM';
  }
}
