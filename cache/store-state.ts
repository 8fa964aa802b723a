/**
 * The in-memory state of one store object: its layout and what it has learned about the
 * disk. Nothing here is global; createStore() makes one per root.
 *
 * Positive facts only are cached ("blob X is present", "layer L has all its blobs"), so a
 * cache can only be stale in one way: something was deleted since. The one negative fact,
 * `listed` (a blob fan-out folder's names when a writer first looked), is used only by blob
 * writers to skip the stat of a blob that was not there: stale, it says "absent" for a blob
 * another process stored since, and the writer stores the same bytes again (write-blob.ts).
 * Deleting is rare (integrity failures, verify, prune) and every deletion rewrites the
 * store's `epoch` file; the operations that rely on the caches (getKey, putKey, putLayer,
 * getLayer) first read that file (one small read) and drop every cache when it changed,
 * also when another process did the deleting.
 */
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Layer } from './layer-types.js';
import type { KeyRecord } from './store-types.js';
import { Dirs, writeFileAtomic } from './atomic-write.js';
import { layoutOf, type Layout } from './store-layout.js';
import * as sfs from './fs.js';

export interface StoreState {
  layout: Layout;
  dirs: Dirs;
  /** Blobs seen present (by a write or a stat): digest → size. */
  present: FactCache<number>;
  /** Blob fan-out folder → the names it held when a blob writer first listed it (plus the
   *  blobs written since): a digest not in it was absent then, so a writer need not stat it.
   *  Never used to answer "present". Key '' holds the fan-out folders that existed. */
  listed: Map<string, Set<string>>;
  /** Blobs a writer found absent by a stat, until `listed` takes over (write-blob.ts). */
  absentSeen: number;
  /** Layer digests whose manifest and every blob were seen present. */
  complete: LRUCache<string, true>;
  /** Hot layer manifests, weighted by entry count. */
  layers: LRUCache<string, Layer>;
  /** Hot key records. */
  keys: LRUCache<string, KeyRecord>;
  /** Path → epoch ms of the last last-use touch we made, to touch each file once a minute. */
  touched: LRUCache<string, number>;
  /** Fan-out folder → its total bytes at a folder mtime (see store-size.ts). */
  sizes: Map<string, { mtimeMs: number; bytes: number }>;
  /** Content of the epoch file when the caches were last known valid. */
  epoch: string | undefined;
}

/**
 * A bounded map of positive facts, for the one cache set on every blob of a layer (10k sets for
 * a 10k-file COPY): an LRUCache's bookkeeping was 12 ms of them, a Map's set ~1 ms. When full it
 * forgets everything: a forgotten fact is only looked up again (a stat), never wrong.
 */
export class FactCache<V> {
  readonly #map = new Map<string, V>();
  constructor(readonly max: number) {}
  get(key: string): V | undefined {
    return this.#map.get(key);
  }
  set(key: string, value: V): void {
    if (this.#map.size >= this.max && !this.#map.has(key)) this.#map.clear();
    this.#map.set(key, value);
  }
  delete(key: string): void {
    this.#map.delete(key);
  }
  clear(): void {
    this.#map.clear();
  }
}

/** One slot per entry. Bounding by `maxSize` rather than `max` matters for start-up: with
 *  `max`, lru-cache preallocates arrays for every slot, which cost 26 ms of a 148 ms warm
 *  build here (240k slots); with `maxSize` they grow as entries arrive. */
const one = () => 1;

export function createState(root: string): StoreState {
  return {
    layout: layoutOf(root),
    dirs: new Dirs(),
    // 200k digests ≈ 20 MB; a big monorepo context is ~50k files.
    present: new FactCache(200_000),
    listed: new Map(),
    absentSeen: 0,
    complete: new LRUCache({ maxSize: 10_000, sizeCalculation: one }),
    // Weighted by entries: 500k entries of manifests ≈ 100 MB at most.
    layers: new LRUCache({ maxSize: 500_000, sizeCalculation: (l) => l.entries.length + 1 }),
    keys: new LRUCache({ maxSize: 10_000, sizeCalculation: one }),
    touched: new LRUCache({ maxSize: 20_000, sizeCalculation: one }),
    sizes: new Map(),
    epoch: undefined,
  };
}

function dropCaches(s: StoreState): void {
  s.present.clear();
  s.complete.clear();
  s.layers.clear();
  s.keys.clear();
  s.dirs.forget();
}

function readEpoch(s: StoreState): string {
  return sfs.readFile(s.layout.epochFile)?.toString('utf8') ?? '';
}

/** Drop every cache if any store object deleted something since we last looked. */
export function syncEpoch(s: StoreState): void {
  let now = readEpoch(s);
  if (now === '') {
    // A store that never deleted anything gets its first epoch, so that facts tied to it
    // (layer completeness markers) can be recorded. Two processes racing here each write
    // one; the loser's facts are merely re-checked once.
    now = randomBytes(8).toString('hex');
    writeFileAtomic(s.dirs, s.layout.tmpDir, s.layout.epochFile, now);
  }
  // The first look (s.epoch undefined) drops too: facts cached before it are unchecked.
  if (now !== s.epoch) {
    dropCaches(s);
    s.epoch = now;
  }
}

/** Record that this store object is about to delete, or has deleted, entries. */
export function bumpEpoch(s: StoreState): void {
  dropCaches(s);
  const next = randomBytes(8).toString('hex');
  writeFileAtomic(s.dirs, s.layout.tmpDir, s.layout.epochFile, next);
  s.epoch = next;
}

/** Last-use times are file mtimes, touched at most once a minute per file: enough for
 *  least-recently-used eviction, and one utimes per key per minute is free. */
const TOUCH_EVERY_MS = 60_000;

export function touch(s: StoreState, path: string): void {
  const now = Date.now();
  const last = s.touched.get(path);
  if (last !== undefined && now - last < TOUCH_EVERY_MS) return;
  if (sfs.utimes(path, now)) s.touched.set(path, now);
}
