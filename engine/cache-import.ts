/**
 * `--cache-from type=registry,ref=…` / `type=local,src=DIR`: a step cache exported by another
 * machine (engine/cache-export.ts), looked up on a local key miss.
 *
 * The format: one OCI image manifest whose config (media type CACHE_CONFIG) is a CacheConfig
 * (the step keys with their layer, chain, duration and key record, plus the COPY file rows so
 * that a miss on this machine is explained against the exporting build) and whose layers are
 * the step layers as tar+gzip blobs (an imported base layer keeps its original bytes).
 *
 * Lazy: only the manifest and the config are read when the build starts. A key found there is
 * a hit at once; its layer is downloaded and imported (verified like `stratum load`, and the
 * resulting layer must be the one the key names) only when something needs the bytes: a step
 * that runs, the image's outputs, tags and pushes, a cache export. A build whose every step
 * hits and that has no output downloads no layer blob. Once a layer is in, its keys are
 * written to the local store, so the next build hits locally. An output that ships blobs and
 * no files (an OCI layout or archive, and nothing else asked of the build) takes the blobs
 * alone (blobsOf()): downloaded and verified into the store, not unpacked.
 *
 * Keys are sha256 over records that include the platform and the executor: machine B hits
 * only with the executor machine A used. Errors reading a cache are warnings: the steps build.
 */
import { createReadStream, existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asBlobDigest, type BlobDigest, type ChainDigest, type LayerDigest, type StepKey } from '../cache/digest.js';
import type { LayerOrigin } from '../cache/layer-origin.js';
import type { ImageRecord, Store } from '../cache/store-types.js';
import type { CacheSpec } from './build.js';
import type { EventBus } from './events.js';
import type { PreviousStep } from './explain-miss.js';
import type { FileRow, KeyRecordV1 } from './step-key.js';
import type { Lease } from '../cache/leases.js';
import { StoreError } from '../cache/store-types.js';
import { EXIT, UserError } from './errors.js';
import type { OwnedDir } from '../cache/owned-dirs.js';
import { isEmptyDir, unpackTo } from './cache-mount-archive.js';
import { normalizeRef } from './load.js';
import { recordPulled, type PulledRecord } from './registry-base-record.js';
import type { Platform } from './platform.js';
import { sha256Hex } from './oci/oci-types.js';
import type { RegistryClient } from './registry/client.js';

export const CACHE_CONFIG = 'application/vnd.stratum.cache.config.v1+json';
export const CACHE_SCHEMA = 'stratum-cache/v1';
/** The tag (ref.name) a local cache layout names its manifest by. */
export const CACHE_TAG = 'cache';

export interface CacheEntry {
  key: StepKey;
  layer: LayerDigest | null;
  chain: ChainDigest;
  durationMs: number;
  created: number;
  record: KeyRecordV1;
  /** Where the step was in the exporting build: stage name and 1-based position in it. */
  stage: string;
  stageIndex: number;
  files?: FileRow[];
}

export interface CacheLayerRef {
  layer: LayerDigest;
  /** Size of the stratum layer (what step-done reports). */
  size: number;
  blob: { mediaType: string; digest: string; size: number };
  /** `sha256:…` of the uncompressed tar. */
  diffId: string;
}

/** A `RUN --mount=type=cache` directory exported with `cache-mounts=true`. */
export interface CacheMountRef {
  /** The mount's id (its target when it names none), as the store names the directory. */
  id: string;
  target: string;
  /** The platform the exporting build built for (`linux/amd64`): contents are per platform. */
  platform: string;
  /** When it was packed (ms since 1970), and its regular files. */
  created: number;
  files: number;
  /** The slot it was on the exporting machine and that slot's last use (ms since 1970):
   *  a mount's slots are listed most recently used first. Absent in older caches. */
  slot?: number;
  used?: number;
  blob: { mediaType: string; digest: string; size: number };
}

/** A base image that only the exporting machine has (`FROM oci-layout://…`, or a name it
 *  built or loaded): carried by the cache, its layers among the cache's layers. A registry
 *  base (`registry` set) is not: its blobs stay in its registry (engine/cache-registry-base.ts). */
export interface CacheBase {
  /** The FROM reference as written (after ARG expansion). */
  ref: string;
  image: Omit<ImageRecord, 'name'>;
  registry?: CacheRegistryBase;
}

/** A base the exporting build pulled from a registry, as it was when it did. */
export interface CacheRegistryBase {
  /** The image manifest's digest (for an index, the one chosen for `platform`). */
  manifestDigest: string;
  platform?: string;
  /** The manifest's and the config's bytes (UTF-8 JSON): checked against manifestDigest and
   *  the manifest's config digest before use. */
  manifest: string;
  config: string;
  /** The stratum layer each of the manifest's layers unpacked to (and its size): what the
   *  step keys stand on before a byte of it is downloaded; checked when the blob comes. */
  layers: { layer: LayerDigest; size: number }[];
}

export interface CacheConfig {
  schema: typeof CACHE_SCHEMA;
  entries: CacheEntry[];
  layers: CacheLayerRef[];
  /** Cache mounts (`cache-mounts=true`); absent in caches exported without them. */
  mounts?: CacheMountRef[];
  /** Bases that are not from a registry; absent when there are none. */
  bases?: CacheBase[];
}

export interface Source {
  label: string;
  config: CacheConfig;
  /** A registry base's blobs (engine/cache-registry-base.ts): what to record once they are in. */
  pulled?: PulledRecord;
  /** Whether the cache still holds blob `d`. */
  has(d: CacheLayerRef['blob']): Promise<boolean>;
  /** Put the verified blob `d` at `dest` and return `dest` (a download: its sha256 and size
   *  were checked while it streamed in), or return another path that holds it (the cache's
   *  own file, a local cache: not checked yet, and not ours to link into the store). */
  fetch(d: CacheLayerRef['blob'], dest: string): Promise<string>;
}

/** The remote caches of one build: lookups, and the layers still to download. */
export class RemoteCache {
  readonly #sources: Source[];
  readonly #store: Store;
  readonly #lease: Lease | undefined;
  readonly #warn: (message: string) => void;
  readonly #pending: { entry: CacheEntry; source: Source }[] = [];
  /** Layers of bases the cache carries (base()), still to download. */
  readonly #pendingLayers: { layer: LayerDigest; source: Source }[] = [];
  /** Registry bases resolved to the manifest a cache knows (resolveRegistryBases()). */
  readonly #lazyBases = new Set<string>();
  /** Bases handed out by base(): tagged in the store once all their layers are in. */
  readonly #usedBases = new Map<string, { image: ImageRecord; source: Source }>();
  /** Blobs (`label digest`) that failed to download or verify: never offered again. */
  readonly #bad = new Map<string, string>();
  /** A blob failed since the last takeFallback(): the build runs its stages again. */
  #fellBack = false;
  /** Layer and cache-mount blobs downloaded (tests and the report count them). */
  downloads = 0;
  /** Cache mounts filled from a cache. */
  mountsSeeded = 0;
  readonly #seeded = new Set<string>();
  /** Layers being downloaded and imported by a materialize() call (stages call it at once). */
  readonly #bringing = new Map<LayerDigest, Promise<void>>();

  constructor(sources: Source[], store: Store, lease: Lease | undefined, warn: (message: string) => void) {
    this.#sources = sources;
    this.#store = store;
    this.#warn = warn;
    this.#lease = lease;
  }

  /** Whether a remote hit's layer is still to come. */
  get hasPending(): boolean {
    return this.#pending.length > 0 || this.#pendingLayers.length > 0;
  }

  /**
   * A base image the exporting machine had but no registry serves (an `oci-layout://` base,
   * a name it loaded or built), as the cache carries it: undefined when no cache does, or a
   * layer of it already failed. Its layers come in lazily, like a hit's (needLayers()).
   */
  base(ref: string): ImageRecord | undefined {
    for (const source of this.#sources) {
      // A registry base is one only once resolveRegistryBases() has made it a source of its own.
      const b = source.config.bases?.find((x) => x.ref === ref && !x.registry);
      if (!b) continue;
      const ok = b.image.layers.every((l) => {
        const r = source.config.layers.find((x) => x.layer === l);
        return r !== undefined && !this.#bad.has(badName(source, r.blob.digest));
      });
      if (!ok) continue;
      const image = { ...b.image, name: ref };
      this.#usedBases.set(ref, { image, source });
      return image;
    }
    return undefined;
  }

  /**
   * The registry bases among `wanted` (the store lacks them) that a cache recorded: each is
   * resolved with its registry (engine/cache-registry-base.ts), and when the reference still
   * names the cache's manifest, base() serves it and its blobs come from its registry only
   * when needed. Otherwise it is left to the normal pull, with a warning that says why.
   * Returns the references resolved so.
   */
  async resolveRegistryBases(wanted: readonly { ref: string; platform?: Platform }[], insecure: string[] | undefined): Promise<ReadonlySet<string>> {
    let client: RegistryClient | undefined;
    for (const w of wanted) {
      if (this.#lazyBases.has(w.ref) || this.#store.getImage(normalizeRef(w.ref))) continue;
      const source = this.#sources.find((src) => src.config.bases?.some((b) => b.ref === w.ref && b.registry));
      const base = source?.config.bases?.find((b) => b.ref === w.ref && b.registry);
      if (!source || !base?.registry) continue;
      const { resolveRegistryBase } = await import('./cache-registry-base.js');
      if (!client) client = (await import('./registry/client.js')).createRegistryClient(insecure?.length ? { insecure } : {});
      try {
        const r = await resolveRegistryBase({ ...base, registry: base.registry }, w, client);
        if (r.kind === 'changed') {
          this.#warn(`${w.ref} now names manifest ${r.digest}; ${source.label} was built on ${base.registry.manifestDigest}: pulling it, and the steps on it build`);
          continue;
        }
        this.#sources.push(r.source);
        this.#lazyBases.add(w.ref);
      } catch (err) {
        this.#warn(`${source.label}: base ${w.ref} cannot be resolved lazily: ${(err as Error).message}; pulling it`);
      }
    }
    return this.#lazyBases;
  }

  /** Whether `ref` was a lazily resolved registry base whose layers then failed to come in
   *  (a wrong digest, diffID or layer): the FROM step pulls it normally. */
  lazyBaseFailed(ref: string): boolean {
    return this.#lazyBases.has(ref) && this.base(ref) === undefined;
  }

  /** Download `layers` (those the store lacks) when something needs their bytes. */
  needLayers(layers: readonly LayerDigest[]): void {
    for (const layer of layers) {
      if (this.#store.getLayer(layer) || this.#pendingLayers.some((p) => p.layer === layer)) continue;
      const source = this.#sources.find((src) => src.config.layers.some((r) => r.layer === layer && !this.#bad.has(badName(src, r.blob.digest))));
      if (source) this.#pendingLayers.push({ layer, source });
    }
  }

  /** The entry for `key` in the first cache that has it and still has its layer's blob (a
   *  HEAD, not a download; a cache that cannot say is a warning, and the step builds). */
  async lookup(key: StepKey, o: { prefetch?: boolean } = {}): Promise<{ entry: CacheEntry; size: number } | undefined> {
    for (const source of this.#sources) {
      const entry = source.config.entries.find((e) => e.key === key);
      if (!entry) continue;
      const ref = entry.layer ? source.config.layers.find((l) => l.layer === entry.layer) : undefined;
      if (entry.layer && !ref) continue;
      if (ref && this.#bad.has(badName(source, ref.blob.digest))) continue;
      // A blob this store already holds (an earlier build's blobsOf()) needs no word from the cache.
      if (ref && !this.#store.getLayer(ref.layer) && !this.#storeHas(ref)) {
        let has: boolean;
        try {
          has = await source.has(ref.blob);
        } catch (err) {
          has = false;
          this.#warn(`${source.label}: cannot check blob ${ref.blob.digest}: ${(err as Error).message}; the step builds`);
        }
        if (!has) continue;
      }
      if (entry.layer && !this.#store.getLayer(entry.layer)) {
        if (!this.#pending.some((p) => p.entry.key === entry.key)) this.#pending.push({ entry, source });
        // The image ships this blob (blobsOf() takes it): the download starts now, beside
        // the later steps' context hashing, instead of after the last step.
        if (o.prefetch && ref) {
          const blob = blobOfRef(ref);
          if (blob) void this.#fetchBlob(source, ref, blob);
        }
      }
      else if (entry.layer) this.#putKey(entry);
      return { entry, size: ref?.size ?? 0 };
    }
    return undefined;
  }

  /**
   * Fill the empty cache mount `id` of a RUN about to run from the first cache that carries
   * one for this platform (`cache-mounts=true` on the exporting side): slot n from the
   * exporter's n-th most recently used slot, or its freshest when it had fewer (so slot 0,
   * what `shared` and `locked` users see, gets the freshest copy). Only an empty mount
   * is filled: what this machine's builds put there is never replaced or merged with another
   * machine's. Not while another build names the directory in its lease (a `shared` user),
   * and the slot is held by the caller (`locked`, `private`). The blob is verified, unpacked
   * beside the slot and renamed over the empty directory, so a reader sees nothing or all.
   * A mount that cannot come in is a warning: the RUN runs with the empty one.
   */
  async seedMount(id: string, platform: string, dir: OwnedDir): Promise<void> {
    if (this.#seeded.has(dir.path)) return;
    this.#seeded.add(dir.path);
    for (const source of this.#sources) {
      const all = source.config.mounts?.filter((x) => x.id === id && x.platform === platform) ?? [];
      const m = all[dir.slot] ?? all[0];
      if (!m) continue;
      if (!isEmptyDir(dir.path) || this.#store.dirLeased(dir.path, this.#lease?.path)) return;
      const tmp = `${dir.path}.import-${randomBytes(6).toString('hex')}`;
      const work = mkdtempSync(join(tmpdir(), 'stratum-cache-mount-'));
      try {
        const file = await source.fetch(m.blob, join(work, 'blob'));
        const found = await sha256File(file);
        if (found.digest !== m.blob.digest || found.size !== m.blob.size) throw new Error(`blob ${m.blob.digest} has sha256 ${found.digest} and ${found.size} bytes`);
        this.downloads++;
        await unpackTo(file, tmp, `${source.label}: cache mount ${id}`);
        try {
          renameSync(tmp, dir.path);
        } catch {
          return; // a build wrote into it meanwhile: its contents win
        }
        this.mountsSeeded++;
      } catch (err) {
        this.#warn(`${source.label}: cache mount ${id} (${m.blob.digest}) cannot be used: ${(err as Error).message}; the RUN starts with an empty one`);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
        rmSync(work, { recursive: true, force: true });
      }
      return;
    }
  }

  /** Why a key this cache holds missed anyway: its layer's blob failed verification. */
  rejected(key: StepKey): string | undefined {
    for (const source of this.#sources) {
      const entry = source.config.entries.find((e) => e.key === key);
      const ref = entry?.layer ? source.config.layers.find((l) => l.layer === entry.layer) : undefined;
      const why = ref ? this.#bad.get(badName(source, ref.blob.digest)) : undefined;
      if (why) return `the cached layer failed verification (${ref!.blob.digest})`;
    }
    return undefined;
  }

  /** Whether a layer failed to come in since the last call: the build then runs its stages
   *  again, and the steps whose layers failed build (BuildKit's ignore-error, later). */
  takeFallback(): boolean {
    const r = this.#fellBack;
    this.#fellBack = false;
    return r;
  }

  /** What the exporting build had at this position (stage name, step in stage): for miss reasons. */
  previous(stage: string, stageIndex: number): PreviousStep | undefined {
    for (const source of this.#sources) {
      const e = source.config.entries.find((x) => x.stage === stage && x.stageIndex === stageIndex);
      if (e) return { record: e.record, ...(e.files ? { files: e.files } : {}) };
    }
    return undefined;
  }

  /** Download and import the layers of remote hits that are not in the store yet: all of
   *  them, or those among `only` (a stage's chain). Up to DOWNLOADS_AHEAD downloads run while
   *  the earlier layers import, which go in one at a time, in order: the first layer that
   *  fails is the one reported (the downloads after it are discarded). */
  async materialize(only?: readonly LayerDigest[]): Promise<void> {
    const want = only ? new Set(only) : undefined;
    const wanted = (layer: LayerDigest | null): layer is LayerDigest => layer !== null && (!want || want.has(layer));
    // Each layer once, hits' layers first, then the carried bases' (needLayers()).
    const jobs = new Map<LayerDigest, Source>();
    for (const p of this.#pending) if (wanted(p.entry.layer) && !jobs.has(p.entry.layer)) jobs.set(p.entry.layer, p.source);
    for (const p of this.#pendingLayers) if (wanted(p.layer) && !jobs.has(p.layer)) jobs.set(p.layer, p.source);
    const list = [...jobs].filter(([layer]) => !this.#store.getLayer(layer));
    const started = new Map<LayerDigest, Promise<Download>>();
    const start = (k: number) => {
      const job = list[k];
      if (!job || started.has(job[0]) || this.#bringing.has(job[0])) return;
      const d = this.#download(job[0], job[1]);
      d.catch(() => {}); // handled where it is awaited; never an unhandled rejection meanwhile
      started.set(job[0], d);
    };
    try {
      for (let i = 0; i < list.length; i++) {
        for (let k = i; k < i + DOWNLOADS_AHEAD; k++) start(k);
        const [layer, source] = list[i]!;
        // Another stage's call is bringing this layer: wait for it rather than fetch it twice.
        const other = this.#bringing.get(layer);
        if (other) await other;
        else if (!this.#store.getLayer(layer) && this.#isPending(layer)) {
          start(i);
          const bring = this.#bring(layer, source, started.get(layer)!);
          this.#bringing.set(layer, bring);
          try {
            await bring;
          } finally {
            this.#bringing.delete(layer);
          }
        }
        this.#settle(want);
      }
    } finally {
      for (const r of await Promise.allSettled(started.values())) if (r.status === 'fulfilled') r.value.dir.remove();
    }
    this.#settle(want);
  }

  /**
   * The blobs of the layers among `layers` that only a cache has, for outputs that ship blobs
   * and need no files (an OCI layout or archive): each is downloaded into the store as a plain
   * blob, verified against its digest, and its layer is not unpacked. So none of them becomes
   * a store layer, no key of theirs is written to the store (the next build on this machine
   * asks the cache again, and finds the blobs here), and nothing trusts a layer digest it has
   * not computed. Returns, per such layer, what the cache says of it (blob, media type,
   * diffID): the cache's word, as the hit that chose the layer already is. A blob that cannot
   * be had is rejected as in materialize() (CACHE_FALLBACK: the stages run again).
   */
  async blobsOf(layers: readonly LayerDigest[]): Promise<Map<LayerDigest, LayerOrigin>> {
    const out = new Map<LayerDigest, LayerOrigin>();
    const jobs: { layer: LayerDigest; source: Source; ref: CacheLayerRef; blob: { digest: BlobDigest; size: number } }[] = [];
    for (const layer of new Set(layers)) {
      if (this.#store.getLayer(layer) || out.has(layer)) continue;
      const source = this.#sourceOf(layer);
      const ref = source?.config.layers.find((l) => l.layer === layer);
      if (!source || !ref) continue; // not the cache's: the export finds it in the store or says it is missing
      const blob = blobOfRef(ref);
      const diffId = sha256Hex(ref.diffId);
      if (!blob || !diffId) this.#reject(layer, source, new Error(`the cache describes it as ${JSON.stringify(ref.blob)} with diffID ${JSON.stringify(ref.diffId)}`));
      out.set(layer, { layer, diffId, tarSize: 0, compressed: { mediaType: ref.blob.mediaType, digest: blob.digest, size: blob.size } });
      this.#lease?.add({ blobs: [blob.digest] });
      jobs.push({ layer, source, ref, blob });
    }
    // Started by lookup() already, most of them; every one settles before the first failure
    // (in image order) is reported.
    const errors = await Promise.all(jobs.map((j) => this.#fetchBlob(j.source, j.ref, j.blob)));
    for (let i = 0; i < jobs.length; i++) {
      const err = errors[i];
      if (err === undefined) continue;
      // A local cache's file that does not hash to its name is the cache's fault; any other
      // store error (a full disk) is the build's.
      if (err instanceof StoreError && err.code !== 'ECHANGED') throw err;
      this.#reject(jobs[i]!.layer, jobs[i]!.source, err);
    }
    return out;
  }

  /** Blob downloads into the store (blobsOf()), by blob digest: each settles with its error,
   *  or undefined once the blob is stored. At most DOWNLOADS_AHEAD run at once. */
  readonly #fetching = new Map<string, Promise<unknown>>();
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  #fetchBlob(source: Source, ref: CacheLayerRef, blob: { digest: BlobDigest; size: number }): Promise<unknown> {
    let p = this.#fetching.get(blob.digest);
    if (p) return p;
    p = (async () => {
      if (this.#store.hasBlob(blob.digest)) return undefined;
      while (this.#active >= DOWNLOADS_AHEAD) await new Promise<void>((r) => this.#waiting.push(r));
      this.#active++;
      try {
        this.#lease?.add({ blobs: [blob.digest] });
        const d = await this.#fetchInto(this.#store.importDir(), source, ref);
        try {
          if (d.verified) this.#store.adoptBlobFile(d.path, blob);
          else this.#store.writeBlobFromFile(d.path, blob); // the cache's own file: hashed as it is copied
        } finally {
          d.dir.remove();
        }
        return undefined;
      } finally {
        this.#active--;
        this.#waiting.shift()?.();
      }
    })().catch((err: unknown) => err ?? new Error('the download failed'));
    this.#fetching.set(blob.digest, p);
    return p;
  }

  /** Wait for the blob downloads still running (a build that stops early has started some):
   *  none outlives the build's lease. */
  async drain(): Promise<void> {
    await Promise.all(this.#fetching.values());
  }

  /** Whether the store holds `ref`'s blob (the lease keeps it from here on). */
  #storeHas(ref: CacheLayerRef): boolean {
    const blob = blobOfRef(ref);
    if (!blob) return false;
    this.#lease?.add({ blobs: [blob.digest] });
    return this.#store.hasBlob(blob.digest);
  }

  /** The source a pending hit or carried base layer comes from. */
  #sourceOf(layer: LayerDigest): Source | undefined {
    return this.#pending.find((p) => p.entry.layer === layer)?.source ?? this.#pendingLayers.find((p) => p.layer === layer)?.source;
  }

  /** Whether a remote hit or a carried base still waits for `layer` (a failed one is dropped). */
  #isPending(layer: LayerDigest): boolean {
    return this.#pending.some((p) => p.entry.layer === layer) || this.#pendingLayers.some((p) => p.layer === layer);
  }

  /** The pending hits and carried layers (among `want`) whose layer is in the store now:
   *  their keys go into the local store, and they are no longer pending. */
  #settle(want: Set<LayerDigest> | undefined): void {
    for (let i = 0; i < this.#pending.length; ) {
      const { entry } = this.#pending[i]!;
      if ((!want || (entry.layer && want.has(entry.layer))) && entry.layer && this.#store.getLayer(entry.layer)) {
        this.#putKey(entry);
        this.#pending.splice(i, 1);
      } else i++;
    }
    for (let i = 0; i < this.#pendingLayers.length; ) {
      const { layer } = this.#pendingLayers[i]!;
      if ((!want || want.has(layer)) && this.#store.getLayer(layer)) this.#pendingLayers.splice(i, 1);
      else i++;
    }
    this.#tagBases();
  }

  /** A base whose layers are all in is tagged in the store under its name (and a registry
   *  base recorded as pulled), so that a later build finds it there without a cache or a
   *  registry. An `oci-layout://` base has no store name: its layout is named by a path. */
  #tagBases(): void {
    for (const [ref, { image, source }] of this.#usedBases) {
      if (!image.layers.every((l) => this.#store.getLayer(l))) continue;
      this.#usedBases.delete(ref);
      const name = normalizeRef(ref);
      if (ref.startsWith('oci-layout://') || this.#store.getImage(name)) continue;
      this.#lease?.add({ layers: image.layers });
      this.#store.putImage({ ...image, name });
      if (source.pulled) recordPulled(this.#store, { ...image, name }, source.pulled);
    }
  }

  /** Fetch a layer's blob into the store's import staging (same file system as the blobs,
   *  so the verified download can be linked in rather than copied). */
  async #download(layer: LayerDigest, source: Source): Promise<Download> {
    const ref = source.config.layers.find((l) => l.layer === layer)!;
    // Fetched already as a blob (blobsOf(), or lookup()'s prefetch, in this build or an
    // earlier one), then a step needed its files after all: the store's blob, verified when
    // it went in, is the download. The lease keeps a prune from taking it meanwhile.
    const blob = blobOfRef(ref);
    const fetching = blob && this.#fetching.get(blob.digest);
    if (fetching) await fetching;
    const dir = this.#store.importDir();
    if (blob) this.#lease?.add({ blobs: [blob.digest] });
    if (blob && this.#store.hasBlob(blob.digest)) return { path: this.#store.blobPath(blob.digest), verified: true, dir };
    return this.#fetchInto(dir, source, ref);
  }

  /** Fetch `ref`'s blob into the staging `dir` (removed if the fetch fails). */
  async #fetchInto(dir: OwnedDir, source: Source, ref: CacheLayerRef): Promise<Download> {
    try {
      const dest = join(dir.path, 'blob');
      const path = await source.fetch(ref.blob, dest);
      this.downloads++;
      return { path, verified: path === dest, dir };
    } catch (err) {
      dir.remove();
      throw err;
    }
  }

  async #bring(layer: LayerDigest, source: Source, download: Promise<Download>): Promise<void> {
    try {
      const d = await download;
      try {
        await this.#importLayer(layer, source, d);
      } finally {
        d.dir.remove();
      }
    } catch (err) {
      // The store is not the problem (a full disk, a fault): that fails the build.
      if (err instanceof StoreError) throw err;
      this.#reject(layer, source, err);
    }
  }

  /** A hit's layer cannot be had after all (a wrong digest, a truncated or missing blob):
   *  say so, never offer that blob again, and throw CACHE_FALLBACK, which makes the build run
   *  its stages again (engine/build.ts): the step and what depends on it build. */
  #reject(layer: LayerDigest, source: Source, err: unknown): never {
    const ref = source.config.layers.find((l) => l.layer === layer)!;
    const message = (err as Error).message;
    this.#bad.set(badName(source, ref.blob.digest), message);
    for (let j = this.#pending.length - 1; j >= 0; j--) {
      const p = this.#pending[j]!;
      if (p.source === source && p.entry.layer === layer) this.#pending.splice(j, 1);
    }
    for (let j = this.#pendingLayers.length - 1; j >= 0; j--) {
      const p = this.#pendingLayers[j]!;
      if (p.source === source && p.layer === layer) this.#pendingLayers.splice(j, 1);
    }
    this.#fellBack = true;
    this.#warn(`${source.label}: layer blob ${ref.blob.digest} cannot be used: ${message}; building the steps that need it`);
    throw new UserError('CACHE_FALLBACK', `${source.label}: layer blob ${ref.blob.digest} failed verification`, 'the build runs those steps instead', EXIT.io);
  }

  #putKey(entry: CacheEntry): void {
    if (this.#store.getKey(entry.key)) return;
    this.#lease?.add({ keys: [entry.key], layers: entry.layer ? [entry.layer] : [] });
    this.#store.putKey({ key: entry.key, layer: entry.layer, chain: entry.chain, record: entry.record, created: entry.created, durationMs: entry.durationMs });
  }

  async #importLayer(layer: LayerDigest, source: Source, d: Download): Promise<void> {
    const ref = source.config.layers.find((l) => l.layer === layer)!;
    const { importLayerFile } = await import('./oci/import.js');
    const got = await importLayerFile(this.#store, d.path, `${source.label}: layer ${ref.blob.digest}`, { digest: ref.blob.digest.slice(7), size: ref.blob.size, diffId: ref.diffId.slice(7), verified: d.verified });
    if (got.digest !== layer) {
      throw new UserError('CACHE_LAYER_MISMATCH', `${source.label}: blob ${ref.blob.digest} unpacks to layer ${got.digest}, but the cache says ${layer}`, 'the cache was written by an incompatible stratum; build without --cache-from, or export the cache again', EXIT.io);
    }
    this.#lease?.add({ layers: [got.digest] });
  }
}

/** Layer blobs downloaded at once while earlier layers import (materialize()). */
const DOWNLOADS_AHEAD = 4;

/** A layer blob fetched for import: `verified` when it is our own download (checked while it
 *  streamed), else the cache's own file. `dir` is the store staging that holds a download. */
interface Download {
  path: string;
  verified: boolean;
  dir: OwnedDir;
}

const badName = (source: Source, digest: string) => `${source.label} ${digest}`;

/** A cache layer's blob as a store blob name and size, or undefined when the cache's
 *  descriptor is not a sha256 one. */
function blobOfRef(ref: CacheLayerRef): { digest: BlobDigest; size: number } | undefined {
  const hex = sha256Hex(ref.blob.digest);
  return hex && Number.isSafeInteger(ref.blob.size) && ref.blob.size >= 0 ? { digest: asBlobDigest(hex), size: ref.blob.size } : undefined;
}

async function sha256File(path: string): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    h.update(chunk);
    size += chunk.length;
  }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

function parseConfig(label: string, bytes: Buffer): CacheConfig {
  const c = JSON.parse(bytes.toString('utf8')) as CacheConfig;
  if (c.schema !== CACHE_SCHEMA || !Array.isArray(c.entries) || !Array.isArray(c.layers)) throw new Error(`${label} is not a stratum cache (schema ${JSON.stringify(c.schema)})`);
  return c;
}

/** A local cache: an OCI layout whose index names the cache manifest. */
function openLocal(dir: string): Source {
  const label = `cache ${dir}`;
  const blob = (digest: string) => join(dir, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests?: { digest: string; annotations?: Record<string, string> }[] };
  const entry = index.manifests?.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === CACHE_TAG) ?? index.manifests?.[0];
  if (!entry) throw new Error(`${label}: index.json lists no cache manifest`);
  const verified = (digest: string) => {
    const bytes = readFileSync(blob(digest));
    if (sha256(bytes) !== digest) throw new Error(`${label}: blob ${digest} does not match its digest`);
    return bytes;
  };
  const manifest = JSON.parse(verified(entry.digest).toString('utf8')) as { config: { mediaType: string; digest: string } };
  if (manifest.config?.mediaType !== CACHE_CONFIG) throw new Error(`${label}: the manifest is not a stratum cache (config ${manifest.config?.mediaType})`);
  return {
    label,
    config: parseConfig(label, verified(manifest.config.digest)),
    has: async (d) => existsSync(blob(d.digest)),
    // importLayerFile checks the blob's sha256 and size while it unpacks it.
    fetch: async (d) => blob(d.digest),
  };
}

async function openRegistry(refText: string, insecure: string[] | undefined): Promise<Source> {
  const { createRegistryClient } = await import('./registry/client.js');
  const { parseReference } = await import('./registry/reference.js');
  const ref = parseReference(refText);
  const client = createRegistryClient(insecure?.length ? { insecure } : {});
  const label = `cache ${refText}`;
  const m = await client.getManifest(ref);
  if (m.manifest.config.mediaType !== CACHE_CONFIG) throw new Error(`${label}: ${m.digest} is not a stratum cache (config ${m.manifest.config.mediaType})`);
  const dir = mkdtempSync(join(tmpdir(), 'stratum-cache-cfg-'));
  try {
    const path = join(dir, 'config.json');
    await client.fetchBlob(ref, m.manifest.config.digest, m.manifest.config.size, path);
    const config = parseConfig(label, readFileSync(path));
    return {
      label,
      config,
      has: async (d) => (await client.headBlob(ref, d.digest)) !== undefined,
      fetch: async (d, dest) => {
        await client.fetchBlob(ref, d.digest, d.size, dest);
        return dest;
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Open every `--cache-from`; one that cannot be read is a warning, and is left out. */
export async function openRemoteCache(specs: CacheSpec[], o: { store: Store; bus: EventBus; lease: Lease | undefined; insecure?: string[] | undefined }): Promise<RemoteCache> {
  const sources: Source[] = [];
  for (const spec of specs) {
    try {
      sources.push(spec.type === 'local' ? openLocal(spec.dir) : await openRegistry(spec.ref, o.insecure));
    } catch (err) {
      const what = spec.type === 'local' ? spec.dir : spec.ref;
      o.bus.emit({ type: 'warning', message: `--cache-from ${what}: ${(err as Error).message}; its steps will build` });
    }
  }
  return new RemoteCache(sources, o.store, o.lease, (message) => o.bus.emit({ type: 'warning', message }));
}
