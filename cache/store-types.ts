import type { BlobDigest, ChainDigest, LayerDigest, StepKey } from './digest.js';
import type { Layer, LayerEntry } from './layer-types.js';
import type { LayerOrigin } from './layer-origin.js';
import type { AcquireOptions, OwnedDir } from './owned-dirs.js';
import type { Lease } from './leases.js';
import type { DocMeta } from './store-docs.js';

/** On-disk layout version: every store folder is named `<kind>-v<STORE_VERSION>`. */
export const STORE_VERSION = 2;

/**
 * What a cache key points at. Written last, after its layer and every blob the layer names,
 * so a key on disk always means a complete entry.
 */
export interface KeyRecord {
  key: StepKey;
  /** The layer the step produced; null when the step made no filesystem change worth a layer
   *  (the step is still cached: its result is "no layer"). */
  layer: LayerDigest | null;
  /** Chain digest after this step. */
  chain: ChainDigest;
  /** The canonical key record the key was hashed from (schema inside), for miss explanations. */
  record: unknown;
  /** Epoch ms when the step was built. */
  created: number;
  /** How long the step took when it was built: what a later hit saves. */
  durationMs: number;
  /** The layer's size in bytes (informational: history rows and step-done). Kept beside the
   *  key so that a hit need not decode the layer's manifest for it: 42 ms of a warm 10k-file
   *  build went to decoding and verifying a 10k-entry manifest only for its size. Absent in
   *  keys written before it existed. */
  layerSize?: number;
}

/** Image config, in OCI's vocabulary (names as in the OCI image config's `config`). */
export interface ImageConfig {
  Env?: string[];
  WorkingDir?: string;
  User?: string;
  Cmd?: string[];
  Entrypoint?: string[];
  Labels?: Record<string, string>;
  ExposedPorts?: Record<string, object>;
  Volumes?: Record<string, object>;
  StopSignal?: string;
  Shell?: string[];
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; Retries?: number };
  OnBuild?: string[];
}

/** One history row, docker-history style. */
export interface HistoryEntry {
  created: string; // RFC 3339
  created_by: string;
  empty_layer?: boolean;
  comment?: string;
  /** Not in OCI: the layer digest and size, for `stratum history`. */
  layer?: LayerDigest;
  size?: number;
}

/** A tagged image: a chain of layers plus its config and history. */
export interface ImageRecord {
  name: string; // e.g. `webapp:dev`
  layers: LayerDigest[]; // bottom first
  chain: ChainDigest;
  config: ImageConfig;
  history: HistoryEntry[];
  created: string; // RFC 3339
  /** The platform it was built for (`--platform`), when not the host's: its exported config says so. */
  platform?: { os: string; architecture: string; variant?: string };
}

/**
 * - EINTEGRITY: stored bytes do not match their digest (the entry was deleted);
 * - ECHANGED: a file changed between fingerprinting and copying into the store;
 * - EMISSING: a write names something not in the store (a layer's blob, a key's layer);
 * - ECORRUPT: an entry on disk cannot be parsed;
 * - EINVALID: a caller passed a bad argument (invalid layer entries, image name, doc kind);
 * - EIO: the filesystem failed (`facts.errno` holds the node error code).
 */
export type StoreErrorCode = 'EINTEGRITY' | 'ECHANGED' | 'EMISSING' | 'ECORRUPT' | 'EINVALID' | 'EIO';

/** Error thrown by the store, with a code and the facts (cacache style). */
export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    readonly facts: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

export interface VerifyReport {
  steps: { name: string; ms: number }[];
  checkedBlobs: number;
  badBlobs: number;
  checkedLayers: number;
  badLayers: number;
  checkedKeys: number;
  badKeys: number;
  removedTemp: number;
}

export interface Store {
  readonly root: string;

  // --- blobs: file contents by sha256 ------------------------------------------------------
  blobPath(digest: BlobDigest): string;
  hasBlob(digest: BlobDigest): boolean;
  /** Copy a file into the store, hashing while copying. If `expect` is given and that blob is
   *  already present, nothing is read. If the bytes read do not hash to `expect.digest`, throws
   *  StoreError('ECHANGED') (the file changed since it was fingerprinted) and stores nothing. */
  writeBlobFromFile(path: string, expect?: { digest: BlobDigest; size: number }): { digest: BlobDigest; size: number };
  writeBlob(data: Uint8Array): { digest: BlobDigest; size: number };
  /** A file this process wrote and hashed itself (a verified download, a spool file), put in
   *  under that digest by a hard link (a hashed copy across file systems); it must not change
   *  afterwards. Never for a path from outside: see cache/write-blob.ts `adoptBlobFile`. */
  adoptBlobFile(path: string, known: { digest: BlobDigest; size: number }): { digest: BlobDigest; size: number };
  /** Read a blob and check its size and digest; throws StoreError('EINTEGRITY') and deletes the
   *  blob when it does not match; returns undefined when absent. `size` (from the layer
   *  entry, when known) is checked too. */
  readBlob(digest: BlobDigest, size?: number): Buffer | undefined;

  // --- layers: manifests by digest ---------------------------------------------------------
  /** Sort and validate entries, compute the digest, and write the manifest atomically. Every
   *  blob the entries name must already be in the store (throws StoreError('EMISSING') if not). */
  putLayer(entries: LayerEntry[]): Layer;
  /** undefined when absent or corrupt (a corrupt manifest is deleted). LRU-cached in memory. */
  getLayer(digest: LayerDigest): Layer | undefined;

  /** Record the blob an imported layer came in (the blob must be stored first; see
   *  layer-origin.ts). An existing origin is kept. */
  putLayerOrigin(origin: LayerOrigin): void;
  /** The layer's origin, or undefined when it has none or its blob is gone. */
  getLayerOrigin(digest: LayerDigest): LayerOrigin | undefined;

  // --- keys --------------------------------------------------------------------------------
  /** Written last. The layer (if any) must already be in the store. */
  putKey(record: KeyRecord): void;
  /** undefined when absent, corrupt, or when its layer is missing (a key never points at
   *  nothing). Touches the last-use time. LRU-cached in memory. */
  getKey(key: StepKey): KeyRecord | undefined;
  /** The layer `key`'s record names, or undefined; the layer is not checked and nothing is
   *  touched: a probe, not a use of the key. */
  layerOfKey(key: StepKey): LayerDigest | undefined;
  /** Those of `blobs` that a fresh listing of their blob folders names (one readdir per
   *  folder) are taken as present for the rest of this process: no stat when they are written
   *  or checked again. Returns how many. */
  trustListedBlobs(blobs: readonly { digest: string; size: number }[]): number;

  // --- images ------------------------------------------------------------------------------
  /** Names are docker references, normalized as docker does for a missing tag (`webapp` is
   *  `webapp:latest`; the stored record carries the normalized name). A name that is not a
   *  valid reference throws StoreError('EINVALID'); every layer must be in the store
   *  (StoreError('EMISSING') if not). Replaces an image of the same name. */
  putImage(image: ImageRecord): void;
  getImage(name: string): ImageRecord | undefined;
  listImages(): ImageRecord[];
  removeImage(name: string): boolean;

  // --- small named JSON documents (stat caches, step history, output manifests) -------------
  /** `kind` is a folder name like `contexts` or `steps`; `name` any string (hashed to a file name). */
  readDoc<T>(kind: string, name: string): T | undefined;
  /** `meta` tells prune when the document is garbage and what it keeps (cache/store-docs.ts). */
  writeDoc(kind: string, name: string, value: unknown, meta?: DocMeta): void;
  /** A binary document's payload (cache/store-docs.ts): undefined when absent or not one. */
  readBinaryDoc(kind: string, name: string): Buffer | undefined;
  /** Written atomically (temp + rename); `meta` as for writeDoc. */
  writeBinaryDoc(kind: string, name: string, payload: Uint8Array, meta?: DocMeta): void;

  /** A directory inside the store for `kind`/`name` (created), with no owner: nothing
   *  protects it from a concurrent user or from prune. Mutable directories (workspaces,
   *  cache mounts, extracted layers, import staging) use acquireDir() instead. */
  dir(kind: string, name: string): string;

  /** A slot of the mutable directory `kind`/`name`, locked for this process (or, with
   *  `mode: 'shared'`, slot 0 unlocked); undefined when every allowed slot is busy. See
   *  cache/owned-dirs.ts. Release it when done; a dead owner's lock is broken by the next. */
  acquireDir(kind: string, name: string, opts?: AcquireOptions): OwnedDir | undefined;
  /** A fresh staging directory for an import (`import/<pid>-<random>`, locked for this
   *  process, on the blobs' file system so that a verified file can be linked in). */
  importDir(): OwnedDir;
  /** The slots of `kind`/`name` that exist, most recently used first. */
  dirSlots(kind: string, name: string): { slot: number; lastUse: number }[];

  /** A lease naming what a running build or import stands on: prune and verify keep it
   *  while this process lives. Release it when done. See cache/leases.ts. */
  openLease(what: string): Lease;
  /** Whether a live lease other than the one at `exceptLease` names the directory `path`. */
  dirLeased(path: string, exceptLease?: string): boolean;

  /** Total bytes of blobs + manifests + keys. */
  size(): number;
  /** Check every blob, layer and key; remove what lies; remove stale temp files. */
  verify(): VerifyReport;
}

/** Options of LocalStore.prune (`stratum cache prune`). */
export interface PruneOptions {
  /** Evict least-recently-used keys (and what only they reach) until the store's size()
   *  is at most this many bytes. Image layers and `roots` are never evicted. */
  keepStorage?: number;
  /** Remove keys not used for this many ms (docker's `--filter until=`). */
  until?: number;
  /** Layers to keep whatever else happens (e.g. the chains of live builds); tagged images'
   *  layers are always roots. */
  roots: Set<LayerDigest>;
  /** Unreferenced layers and blobs younger than this (ms) are kept: they may belong to a
   *  build that has not written its key yet. Default 60 s. A fallback for writers without a
   *  lease: a live lease protects what it names and everything written since it began. */
  graceMs?: number;
  /** Plan only: report what would go (`items`), touch nothing, not even dead leases. */
  dryRun?: boolean;
}

/** One thing a prune removes (or, dry, would remove). `name` is a digest, a folder or slot name. */
export interface PrunedItem {
  kind: 'key' | 'layer' | 'blob' | 'legacy' | 'document' | 'directory';
  name: string;
  path: string;
  bytes: number;
}

export interface PruneReport {
  /** True when nothing was removed: the report says what a real prune would remove. */
  dryRun: boolean;
  /** Everything removed (or that would be), in the order it goes. */
  items: PrunedItem[];
  steps: { name: string; ms: number }[];
  removedKeys: number;
  removedLayers: number;
  removedBlobs: number;
  /** Folders of an older store layout that were removed (`blobs-v1`, …). */
  removedLegacy: string[];
  /** Bytes of the removed files (blobs + manifests + keys, and old layout folders). */
  freedBytes: number;
  sizeBefore: number;
  sizeAfter: number;
  /** Workspace and cache-mount slots removed (never a locked or leased one). */
  removedDirs: number;
  /** Store documents removed (their context, output or layers are gone). */
  removedDocs: number;
  /** Bytes of removed slots and documents (not part of sizeBefore/After). */
  freedDirBytes: number;
  /** Live leases honoured; dead owners' leases removed. */
  leases: number;
  removedLeases: number;
}

/** The store createStore() returns: Store plus maintenance that only the CLI needs. */
export interface LocalStore extends Store {
  /** Mark from the roots (tagged images' layers and `opts.roots`) and the surviving keys,
   *  then sweep keys → layers → blobs. Never removes a layer an image references. */
  prune(opts: PruneOptions): PruneReport;
}
