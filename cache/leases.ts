/**
 * Leases: a running build or import says what it stands on, so that `prune` and `verify`
 * never take it away. A lease is one file, `leases/<pid>-<random>.json`, rewritten
 * atomically as the build proceeds:
 *
 *   { owner: {pid, start, host}, what, created, layers[], keys[], blobs[], dirs[], pending[] }
 *
 * - `layers`: every layer of every chain the build has reached (bases, hits, new layers);
 *   a kept layer keeps its blobs;
 * - `keys`: the keys it hit or wrote (so the file lists of its miss explanations survive);
 * - `blobs`: loose blobs it will name in a document (those file lists), before it does;
 * - `dirs`: store directories it uses without a lock (shared cache mounts);
 * - `pending`: blobs of the step in progress, written or found before their layer exists;
 *   replaced at every step, not accumulated (a COPY of 50k files lists them once).
 *
 * Besides what it names, a live lease also protects everything written since it was
 * created (prune's grace reaches back to the oldest live lease): that covers blobs a RUN's
 * snapshot writes before their layer. A lease whose owner is dead (pid and start time no
 * longer match a process) protects nothing and is removed by the next reader.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-write.js';
import { ownerAlive, parseOwner, selfOwner, type ProcessOwner } from './process-owner.js';
import type { StoreState } from './store-state.js';
import * as sfs from './fs.js';

export interface LeaseRoots {
  layers?: Iterable<string>;
  keys?: Iterable<string>;
  blobs?: Iterable<string>;
  dirs?: Iterable<string>;
}

export interface Lease {
  readonly path: string;
  /** Add roots (kept until release). Rewrites the lease only when something is new.
   *  `pending` replaces the step's pending blobs in the same write (see pending()). */
  add(roots: LeaseRoots & { pending?: Iterable<string> }): void;
  /** Replace the blobs of the step in progress. */
  pending(blobs: Iterable<string>): void;
  /** Remove the lease. Idempotent. */
  release(): void;
}

interface LeaseDoc {
  owner: ProcessOwner;
  what: string;
  created: number;
  layers: string[];
  keys: string[];
  blobs: string[];
  dirs: string[];
  pending: string[];
}

export const LEASES = 'leases';

export function openLease(s: StoreState, what: string): Lease {
  const dir = join(s.layout.root, LEASES);
  s.dirs.ensure(dir);
  const path = join(dir, `${process.pid}-${randomBytes(6).toString('hex')}.json`);
  const sets = { layers: new Set<string>(), keys: new Set<string>(), blobs: new Set<string>(), dirs: new Set<string>() };
  let pending: string[] = [];
  const created = Date.now();
  let released = false;
  const write = () => {
    if (released) return;
    const doc: LeaseDoc = { owner: selfOwner(), what, created, layers: [...sets.layers], keys: [...sets.keys], blobs: [...sets.blobs], dirs: [...sets.dirs], pending };
    writeFileAtomic(s.dirs, s.layout.tmpDir, path, JSON.stringify(doc));
  };
  write();
  return {
    path,
    add(roots) {
      let changed = false;
      for (const k of ['layers', 'keys', 'blobs', 'dirs'] as const) {
        for (const v of roots[k] ?? []) {
          if (!sets[k].has(v)) {
            sets[k].add(v);
            changed = true;
          }
        }
      }
      if (roots.pending) {
        const next = new Set(roots.pending);
        if (next.size !== pending.length || !pending.every((b) => next.has(b))) {
          pending = [...next];
          changed = true;
        }
      }
      if (changed) write();
    },
    pending(blobs) {
      const next = new Set(blobs);
      // The same set again (a COPY leases its blobs, then the step its layer's): no rewrite.
      // A 10k-file COPY's lease is ~700 KB of JSON, written four times per step before.
      if (next.size === pending.length && pending.every((b) => next.has(b))) return;
      pending = [...next];
      write();
    },
    release() {
      if (released) return;
      released = true;
      sfs.unlink(path);
    },
  };
}

export interface LiveLeases {
  layers: Set<string>;
  keys: Set<string>;
  dirs: Set<string>;
  blobs: Set<string>;
  pids: Set<number>;
  /** Creation time of the oldest live lease, if any. */
  oldest: number | undefined;
  count: number;
  removedDead: number;
}

/** The roots of every live lease; dead owners' leases are removed (they protect nothing). */
export function readLeases(s: StoreState, opts: { keepDead?: boolean } = {}): LiveLeases {
  const dir = join(s.layout.root, LEASES);
  const out: LiveLeases = { layers: new Set(), keys: new Set(), dirs: new Set(), blobs: new Set(), pids: new Set(), oldest: undefined, count: 0, removedDead: 0 };
  for (const name of sfs.readdir(dir)) {
    if (!name.endsWith('.json')) continue;
    const path = join(dir, name);
    const text = sfs.readFile(path);
    if (text === undefined) continue; // released meanwhile
    let doc: LeaseDoc | undefined;
    try {
      doc = JSON.parse(text.toString('utf8')) as LeaseDoc;
    } catch {
      doc = undefined;
    }
    const owner = parseOwner(doc?.owner);
    if (!doc || !owner || !ownerAlive(owner)) {
      // Written atomically, so an unparsable lease is not one being written: it is junk.
      if (!opts.keepDead) sfs.unlink(path);
      out.removedDead++;
      continue;
    }
    out.count++;
    out.pids.add(owner.pid);
    if (typeof doc.created === 'number') out.oldest = Math.min(out.oldest ?? doc.created, doc.created);
    for (const l of arr(doc.layers)) out.layers.add(l);
    for (const k of arr(doc.keys)) out.keys.add(k);
    for (const d of arr(doc.dirs)) out.dirs.add(d);
    for (const b of arr(doc.pending)) out.blobs.add(b);
    for (const b of arr(doc.blobs)) out.blobs.add(b);
  }
  return out;
}

const arr = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** Whether a live lease other than `except` (a lease path) names directory `path`: a build
 *  uses that shared directory (a cache mount with sharing=shared) right now. */
export function dirLeased(s: StoreState, path: string, except?: string): boolean {
  const dir = join(s.layout.root, LEASES);
  for (const name of sfs.readdir(dir)) {
    const file = join(dir, name);
    if (!name.endsWith('.json') || file === except) continue;
    const text = sfs.readFile(file);
    if (text === undefined) continue;
    let doc: LeaseDoc | undefined;
    try {
      doc = JSON.parse(text.toString('utf8')) as LeaseDoc;
    } catch {
      continue;
    }
    const owner = parseOwner(doc?.owner);
    if (owner && ownerAlive(owner) && arr(doc.dirs).includes(path)) return true;
  }
  return false;
}
