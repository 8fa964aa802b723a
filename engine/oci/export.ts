/**
 * `-o type=oci` and `-o type=docker`: an image out of the store, in the formats other tools
 * read (image-spec image-layout.md; `docker save`'s archive).
 *
 * Reproducible: every byte follows from the layers, the config and the export epoch
 * (SOURCE_DATE_EPOCH, else 0): layer tars as in layer-tar.ts, gzip as in layer-blob.ts,
 * JSON with fixed key order, archive entries in a fixed order with fixed headers.
 *
 * Incremental: a layout directory keeps its blobs; a layer whose gzip digest is cached
 * (layer-blob.ts) and whose blob is already there is neither re-tarred nor re-gzipped.
 *
 * Imported layers: a layer with an origin (an imported base layer, cache/layer-origin.ts) is
 * exported as the very blob it came in, under its original digest, media type and diffID, so
 * a registry that has the base image's blobs already has these, and the config's diff_ids
 * are the base image's. A docker-archive needs the uncompressed tar: a gzip origin is
 * gunzipped, which gives back exactly the tar whose sha256 is the diffID.
 */
import { createReadStream, createWriteStream, existsSync, linkSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { BlobDigest, LayerDigest } from '../../cache/digest.js';
import { basename, dirname, join } from 'node:path';
import type { Layer } from '../../cache/layer-types.js';
import { sha256 } from '../../cache/hash.js';
import { StoreError, type ImageRecord, type Store } from '../../cache/store-types.js';
import type { OutputSpec } from '../build.js';
import { EXIT, UserError } from '../errors.js';
import { TarArchiveWriter } from './archive-writer.js';
import { ociConfig } from './image-config.js';
import { cachedTarInfo, measureLayer, produceLayer, rememberTarInfo, writeLayerGzip, type LayerTarInfo } from './layer-blob.js';
import { IMAGE_NAME, MEDIA, REF_NAME, hostPlatform, sha256Hex, type Descriptor, type DockerArchiveEntry, type OciIndex, type OciManifest } from './oci-types.js';
import { exportEpoch, qualifiedName, splitRef } from './ref-names.js';
import { createDecompress } from '../registry/decompress.js';
import { layerCompression } from '../registry/media-types.js';
import type { LayerOrigin } from '../../cache/layer-origin.js';

/** Digests of an exported layer: a produced tar (LayerTarInfo), or an imported layer's origin
 *  (then `mediaType` is the origin's and `origin` its record). */
type ExportInfo = LayerTarInfo & { mediaType?: string; origin?: LayerOrigin };

/** The export info of a layer that has an origin (in the store, or among `origins`: a
 *  --cache-from hit whose blob came without its files), or undefined. */
function originInfo(store: Store, digest: string, origins?: ReadonlyMap<string, LayerOrigin>): ExportInfo | undefined {
  const origin = store.getLayerOrigin(digest as LayerDigest) ?? origins?.get(digest);
  if (!origin) return undefined;
  return { diffId: origin.diffId, tarSize: origin.tarSize, gz: { digest: origin.compressed.digest, size: origin.compressed.size }, mediaType: origin.compressed.mediaType, origin };
}

/** The origin's bytes, verified against their digest while they are read (a corrupt blob fails
 *  the export rather than shipping wrong bytes). */
async function* originBytes(store: Store, origin: LayerOrigin): AsyncGenerator<Buffer> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(store.blobPath(origin.compressed.digest as BlobDigest), { highWaterMark: 64 * 1024 })) {
    const b = chunk as Buffer;
    h.update(b);
    size += b.length;
    yield b;
  }
  const found = h.digest('hex');
  if (found !== origin.compressed.digest || size !== origin.compressed.size) {
    throw new StoreError('EINTEGRITY', `the original blob ${origin.compressed.digest} of layer ${origin.layer} does not match its digest (found ${found}, ${size} bytes); run \`stratum cache verify\``, {
      expected: origin.compressed.digest,
      found,
    });
  }
}

/** The uncompressed tar of an origin (for a docker-archive), checked against the diffID. */
async function* originTar(store: Store, origin: LayerOrigin): AsyncGenerator<Buffer> {
  const raw = originBytes(store, origin);
  const kind = layerCompression(origin.compressed.mediaType);
  if (kind === 'none' || kind === undefined) {
    yield* raw;
    return;
  }
  const h = createHash('sha256');
  const gunzip = createDecompress(kind);
  const feed = pipeline(raw, gunzip).catch((err: unknown) => {
    gunzip.destroy(err as Error);
  });
  for await (const chunk of gunzip) {
    h.update(chunk as Buffer);
    yield chunk as Buffer;
  }
  await feed;
  const found = h.digest('hex');
  if (found !== origin.diffId) throw new StoreError('EINTEGRITY', `the original blob of layer ${origin.layer} does not unpack to its diffID ${origin.diffId} (found ${found})`, { expected: origin.diffId, found });
}

export type ArchiveOutput = Exclude<OutputSpec, { type: 'local' }>;

export interface ExportOptions {
  /** OCI directory: layer blobs (sha256 hex) not to write, because the caller does not need
   *  their bytes (a push to a registry that has them); the manifest still names them. Only a
   *  layer whose blob digest is known without compressing it (an origin, or remembered tar
   *  info) can be left out. */
  skipBlob?: (hex: string) => boolean;
  /** OCI only: layers the store has only as a blob (engine/cache-import.ts `blobsOf`), by
   *  layer digest; they are shipped as those blobs, under the diffIDs given here. */
  origins?: ReadonlyMap<string, LayerOrigin>;
}

/** The sha256 hex of the blob each layer of `image` exports as, where it is known without
 *  compressing the layer (an imported layer's origin, or the tar info of an earlier export). */
export function knownLayerBlobs(store: Store, image: ImageRecord): string[] {
  const epoch = exportEpoch();
  const out: string[] = [];
  for (const [digest, layer] of uniqueLayers(store, image)) {
    const gz = originInfo(store, digest)?.gz ?? (layer ? cachedTarInfo(store, layer.digest, epoch)?.gz : undefined);
    if (gz) out.push(gz.digest);
  }
  return out;
}

/** Export `image` (its name is the tag the archive carries) as `out` describes. */
export async function exportImage(store: Store, image: ImageRecord, out: ArchiveOutput, opts: ExportOptions = {}): Promise<void> {
  const epoch = exportEpoch();
  if (out.type === 'oci') {
    const layers = uniqueLayers(store, image, opts.origins);
    await (out.tar ? exportOciTar(store, image, layers, out.dest, epoch, opts.origins) : exportOciDir(store, image, layers, out.dest, epoch, opts));
  } else {
    if (!out.tar) throw new UserError('OUTPUT_TYPE', 'type=docker writes a tar archive (docker load reads one)', 'write -o type=docker,dest=IMAGE.tar, or -o type=oci,dest=DIR,tar=false for a directory', EXIT.usage);
    // A docker-archive holds the uncompressed tars: every layer must be in the store.
    await exportDocker(store, image, uniqueLayers(store, image), out.dest, epoch);
  }
}

/** The image's layers, each once (two steps can make the same layer), in image order: the
 *  store's layer, or undefined for one that `origins` has as a blob only. */
function uniqueLayers(store: Store, image: ImageRecord, origins?: ReadonlyMap<string, LayerOrigin>): Map<string, Layer | undefined> {
  const out = new Map<string, Layer | undefined>();
  for (const d of image.layers) {
    if (out.has(d)) continue;
    const layer = store.getLayer(d);
    if (!layer && !origins?.has(d)) throw missing(image, d);
    out.set(d, layer);
  }
  return out;
}

const missing = (image: ImageRecord, d: string) => new StoreError('EMISSING', `layer ${d} of ${image.name} is missing from the store`, { layer: d });

/** The store's layer, for a layer that is not shipped as an origin blob. */
function stored(image: ImageRecord, digest: string, layer: Layer | undefined): Layer {
  if (!layer) throw missing(image, digest);
  return layer;
}

const json = (x: unknown) => Buffer.from(JSON.stringify(x));
const descriptor = (mediaType: string, data: Buffer): Descriptor => ({ mediaType, digest: `sha256:${sha256(data)}`, size: data.length });

/** Config, manifest and index of an OCI image whose layer blobs are described by `infos`. */
function ociDocuments(image: ImageRecord, infos: Map<string, ExportInfo>, epoch: number) {
  const info = (d: string) => infos.get(d)!;
  const config = json(ociConfig(image, image.layers.map((d) => info(d).diffId), epoch));
  const manifest: OciManifest = {
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    config: descriptor(MEDIA.config, config),
    layers: image.layers.map((d) => ({ mediaType: info(d).mediaType ?? MEDIA.layerGzip, digest: `sha256:${info(d).gz!.digest}`, size: info(d).gz!.size })),
  };
  const manifestBytes = json(manifest);
  const { tag } = splitRef(image.name);
  const entry: Descriptor = {
    ...descriptor(MEDIA.manifest, manifestBytes),
    annotations: { [IMAGE_NAME]: qualifiedName(image.name), [REF_NAME]: tag ?? image.name },
    platform: image.platform ?? hostPlatform(),
  };
  return { config, manifestBytes, entry };
}

/**
 * The digests an OCI export or a push gives `image`: its manifest's (what `skopeo inspect`
 * and a registry report, BuildKit's `containerimage.digest`) and its config's. They depend on
 * the layers, the config and the export epoch only, never on the image's name. A layer whose
 * gzip digest is not cached is gzipped once, to nowhere, and its digests are cached, so a
 * later export does not gzip it again.
 */
export async function imageDigests(store: Store, image: ImageRecord, origins?: ReadonlyMap<string, LayerOrigin>): Promise<{ manifest: Descriptor; config: string }> {
  const epoch = exportEpoch();
  const infos = new Map<string, ExportInfo>();
  for (const [digest, found] of uniqueLayers(store, image, origins)) {
    let info: ExportInfo | undefined = originInfo(store, digest, origins);
    if (info) {
      infos.set(digest, info);
      continue;
    }
    const layer = stored(image, digest, found);
    info = cachedTarInfo(store, layer.digest, epoch);
    if (!info?.gz) {
      info = await produceLayer(store, layer, epoch, true, async (s) => {
        for await (const _ of s) void _;
      });
      rememberTarInfo(store, layer.digest, epoch, info);
    }
    infos.set(digest, info);
  }
  const { config, manifestBytes } = ociDocuments(image, infos, epoch);
  return { manifest: descriptor(MEDIA.manifest, manifestBytes), config: `sha256:${sha256(config)}` };
}

const ociIndex = (manifests: Descriptor[]): OciIndex => ({ schemaVersion: 2, mediaType: MEDIA.index, manifests });
const OCI_LAYOUT = json({ imageLayoutVersion: '1.0.0' });

// --- OCI layout directory ----------------------------------------------------------------------

async function exportOciDir(store: Store, image: ImageRecord, layers: Map<string, Layer | undefined>, dest: string, epoch: number, opts: ExportOptions = {}): Promise<void> {
  checkLayoutDest(dest);
  const blobDir = join(dest, 'blobs', 'sha256');
  mkdirSync(blobDir, { recursive: true });
  const infos = new Map<string, ExportInfo>();
  for (const [digest, found] of layers) {
    const fromOrigin = originInfo(store, digest, opts.origins);
    if (fromOrigin) {
      const gz = fromOrigin.gz!;
      if (!opts.skipBlob?.(gz.digest) && !blobPresent(blobDir, gz.digest, gz.size)) await placeOrigin(store, fromOrigin.origin!, join(blobDir, gz.digest));
      infos.set(digest, fromOrigin);
      continue;
    }
    const layer = stored(image, digest, found);
    const cached = cachedTarInfo(store, layer.digest, epoch);
    if (cached?.gz && (opts.skipBlob?.(cached.gz.digest) || blobPresent(blobDir, cached.gz.digest, cached.gz.size))) {
      infos.set(digest, cached);
      continue;
    }
    const info = await writeLayerGzip(store, layer, epoch, blobDir);
    rememberTarInfo(store, layer.digest, epoch, { diffId: info.diffId, tarSize: info.tarSize, gz: info.gz });
    infos.set(digest, info);
  }
  const { config, manifestBytes, entry } = ociDocuments(image, infos, epoch);
  writeBlob(blobDir, config);
  writeBlob(blobDir, manifestBytes);
  // Other tags in the layout stay; this tag now names the new manifest.
  const ref = entry.annotations![REF_NAME];
  const kept = readIndex(dest).manifests.filter((m) => m.annotations?.[REF_NAME] !== ref);
  writeIfChanged(join(dest, 'oci-layout'), OCI_LAYOUT);
  const index = ociIndex([...kept, entry]);
  writeIfChanged(join(dest, 'index.json'), json(index));
  collectGarbage(blobDir, index);
}

/**
 * Remove blobs no manifest of the index reaches any more (the layers of an earlier export of
 * this tag), so re-exporting into one layout does not grow it forever. When a manifest
 * cannot be read (another tool's format, a nested index stratum does not follow), nothing
 * is removed.
 */
function collectGarbage(blobDir: string, index: OciIndex): void {
  const live = new Set<string>();
  const visit = (d: Descriptor): boolean => {
    const hex = sha256Hex(d.digest);
    if (!hex) return false;
    live.add(hex);
    if (d.mediaType !== MEDIA.manifest && d.mediaType !== MEDIA.dockerManifest) return d.mediaType !== MEDIA.index && d.mediaType !== MEDIA.dockerManifestList;
    try {
      const m = JSON.parse(readFileSync(join(blobDir, hex), 'utf8')) as OciManifest;
      for (const x of [m.config, ...m.layers]) {
        const h = sha256Hex(x.digest);
        if (!h) return false;
        live.add(h);
      }
      return true;
    } catch {
      return false;
    }
  };
  if (!index.manifests.every(visit)) return;
  for (const name of readdirSync(blobDir)) {
    if (/^[a-f0-9]{64}$/.test(name) && !live.has(name)) rmSync(join(blobDir, name), { force: true });
  }
}

/** A layout directory is written into only if it is new, empty, or already an OCI layout. */
export function checkLayoutDest(dest: string): void {
  if (!existsSync(dest)) return;
  if (!statSync(dest).isDirectory()) throw new UserError('OUTPUT_NOT_DIR', `output ${dest} exists and is not a directory`, 'use dest=NAME.tar for an archive file, or choose another directory', EXIT.usage, undefined, dest);
  if (readdirSync(dest).length && !existsSync(join(dest, 'oci-layout'))) {
    throw new UserError('OUTPUT_NOT_OURS', `output directory ${dest} is not empty and is not an OCI layout`, 'choose a new or empty directory for dest=, or an existing OCI layout to add this tag to', EXIT.usage, undefined, dest);
  }
}

function readIndex(dest: string): OciIndex {
  const path = join(dest, 'index.json');
  if (!existsSync(path)) return ociIndex([]);
  try {
    const x = JSON.parse(readFileSync(path, 'utf8')) as OciIndex;
    if (Array.isArray(x.manifests)) return x;
  } catch {
    // fall through
  }
  throw new UserError('OUTPUT_BAD_INDEX', `${path} is not a valid OCI index`, 'remove the directory, or export to a new one', EXIT.io, undefined, path);
}

function blobPresent(blobDir: string, hex: string, size: number): boolean {
  try {
    return statSync(join(blobDir, hex)).size === size;
  } catch {
    return false;
  }
}

/**
 * An origin blob into a layout, through a temp name: a hard link to the store's blob where
 * the two share a file system (no bytes written, none hashed: the store checked the blob's
 * digest when it came in, its blobs are read-only and never change in place, and `stratum
 * cache verify` checks them), else a copy verified as it is read. The layout's file is then
 * the store's read-only inode: a tool that rewrote it in place would damage the store's copy
 * too, which verify would find; tools that write a layout write new files.
 */
async function placeOrigin(store: Store, origin: LayerOrigin, dest: string): Promise<void> {
  const tmp = join(dirname(dest), `.${basename(dest)}.stratum-${randomBytes(6).toString('hex')}`);
  try {
    let linked = false;
    try {
      linkSync(store.blobPath(origin.compressed.digest as BlobDigest), tmp);
      linked = true;
    } catch {
      // another file system, or links not allowed here: copy (a missing blob fails there)
    }
    if (!linked) await pipeline(originBytes(store, origin), createWriteStream(tmp, { flags: 'wx' }));
    renameSync(tmp, dest);
  } finally {
    rmSync(tmp, { force: true });
  }
}

function writeBlob(blobDir: string, data: Buffer): void {
  const hex = sha256(data);
  if (!blobPresent(blobDir, hex, data.length)) writeAtomic(join(blobDir, hex), data);
}

function writeIfChanged(path: string, data: Buffer): void {
  try {
    if (readFileSync(path).equals(data)) return;
  } catch {
    // absent
  }
  writeAtomic(path, data);
}

function writeAtomic(path: string, data: Buffer): void {
  const tmp = join(dirname(path), `.${basename(path)}.stratum-${randomBytes(6).toString('hex')}`);
  try {
    writeFileSync(tmp, data, { flag: 'wx' });
    renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
}

// --- OCI layout as one tar (oci-archive) ------------------------------------------------------------

async function exportOciTar(store: Store, image: ImageRecord, layers: Map<string, Layer | undefined>, dest: string, epoch: number, origins?: ReadonlyMap<string, LayerOrigin>): Promise<void> {
  checkFileDest(dest);
  // Layers whose digests are not cached are gzipped once into a staging folder: the index
  // needs every digest before the first blob goes into the archive.
  const staging = join(dirname(dest), `.${basename(dest)}.stratum-blobs-${randomBytes(6).toString('hex')}`);
  const infos = new Map<string, ExportInfo>();
  const staged = new Map<string, string>();
  let writer: TarArchiveWriter | undefined;
  try {
    for (const [digest, found] of layers) {
      const fromOrigin = originInfo(store, digest, origins);
      if (fromOrigin) {
        infos.set(digest, fromOrigin);
        continue;
      }
      const layer = stored(image, digest, found);
      const cached = cachedTarInfo(store, layer.digest, epoch);
      if (cached?.gz) {
        infos.set(digest, cached);
        continue;
      }
      mkdirSync(staging, { recursive: true });
      const info = await writeLayerGzip(store, layer, epoch, staging);
      rememberTarInfo(store, layer.digest, epoch, { diffId: info.diffId, tarSize: info.tarSize, gz: info.gz });
      infos.set(digest, info);
      staged.set(digest, info.path);
    }
    const { config, manifestBytes, entry } = ociDocuments(image, infos, epoch);
    // The index names every blob by digest, so equal index bytes mean an equal archive.
    const key = `oci ${sha256(json(ociIndex([entry])))}`;
    if (archiveUnchanged(store, dest, key)) return;
    const w = (writer = new TarArchiveWriter(dest, epoch));
    await w.file('oci-layout', OCI_LAYOUT);
    await w.file('index.json', json(ociIndex([entry])));
    await w.dir('blobs');
    await w.dir('blobs/sha256');
    // Blobs sorted by digest: a fixed order, whatever order the layers were produced in.
    const blobs: { hex: string; size: number; write: () => Promise<void> }[] = [
      { hex: sha256(config), size: config.length, write: () => w.file(`blobs/sha256/${sha256(config)}`, config) },
      { hex: sha256(manifestBytes), size: manifestBytes.length, write: () => w.file(`blobs/sha256/${sha256(manifestBytes)}`, manifestBytes) },
    ];
    for (const [digest, layer] of layers) {
      const info = infos.get(digest)!;
      const gz = info.gz!;
      const name = `blobs/sha256/${gz.digest}`;
      const file = staged.get(digest);
      const origin = info.origin;
      blobs.push({
        hex: gz.digest,
        size: gz.size,
        write: origin
          ? () => w.stream(name, gz.size, originBytes(store, origin))
          : file
          ? () => w.stream(name, gz.size, createReadStream(file))
          : async () => void (await produceLayer(store, stored(image, digest, layer), epoch, true, (s) => w.stream(name, gz.size, s), info)),
      });
    }
    const seen = new Set<string>();
    for (const b of blobs.sort((a, b) => (a.hex < b.hex ? -1 : a.hex > b.hex ? 1 : 0))) {
      if (seen.has(b.hex)) continue;
      seen.add(b.hex);
      await b.write();
    }
    await w.finish();
    rememberArchive(store, dest, key);
  } catch (err) {
    await writer?.abort(err as Error);
    throw err;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

interface ArchiveDoc {
  key: string;
  size: number;
  mtimeMs: number;
  ino: number;
}

/**
 * True when `dest` is still the archive an earlier export wrote for `key` (same content
 * digest, file untouched since): then nothing is written at all, not even a temp file
 * beside it, which a watcher of the folder would take for a change.
 */
function archiveUnchanged(store: Store, dest: string, key: string): boolean {
  const doc = store.readDoc<ArchiveDoc>('oci-archive-outputs', dest);
  if (doc?.key !== key) return false;
  try {
    const st = statSync(dest);
    return st.isFile() && st.size === doc.size && st.mtimeMs === doc.mtimeMs && st.ino === doc.ino;
  } catch {
    return false;
  }
}

function rememberArchive(store: Store, dest: string, key: string): void {
  const st = statSync(dest);
  store.writeDoc('oci-archive-outputs', dest, { key, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino } satisfies ArchiveDoc, { paths: [dest] });
}

export function checkFileDest(dest: string): void {
  if (existsSync(dest) && statSync(dest).isDirectory()) {
    throw new UserError('OUTPUT_IS_DIR', `output ${dest} is a directory, but the export is a tar file`, 'use tar=false for an OCI layout directory, or choose a file name ending in .tar', EXIT.usage, undefined, dest);
  }
}

// --- docker-archive (`docker save` / `docker load`) ------------------------------------------------

/**
 * manifest.json, repositories, `<config sha256>.json` and one uncompressed `<diffID>/layer.tar`
 * per layer: the layout `docker load` and skopeo's `docker-archive:` read. Layer tars are
 * streamed straight into the archive; their size comes from the cache or from one
 * measuring pass.
 */
async function exportDocker(store: Store, image: ImageRecord, layers: Map<string, Layer | undefined>, dest: string, epoch: number): Promise<void> {
  checkFileDest(dest);
  const infos = new Map<string, ExportInfo>();
  for (const [digest, found] of layers) {
    const fromOrigin = originInfo(store, digest);
    if (fromOrigin) {
      infos.set(digest, fromOrigin);
      continue;
    }
    const layer = stored(image, digest, found);
    let info: ExportInfo | undefined = cachedTarInfo(store, layer.digest, epoch);
    if (!info) {
      info = await measureLayer(store, layer, epoch);
      rememberTarInfo(store, layer.digest, epoch, info);
    }
    infos.set(digest, info);
  }
  const config = json(ociConfig(image, image.layers.map((d) => infos.get(d)!.diffId), epoch));
  const configName = `${sha256(config)}.json`;
  const layerName = (d: string) => `${infos.get(d)!.diffId}/layer.tar`;
  const manifest: DockerArchiveEntry[] = [{ Config: configName, RepoTags: [image.name], Layers: image.layers.map(layerName) }];
  const { repo, tag } = splitRef(image.name);
  const top = image.layers.at(-1);
  const repositories = top !== undefined && tag !== undefined ? { [repo]: { [tag]: infos.get(top)!.diffId } } : {};

  const key = `docker ${sha256(json([manifest, repositories, sha256(config)]))}`;
  if (archiveUnchanged(store, dest, key)) return;
  const writer = new TarArchiveWriter(dest, epoch);
  try {
    await writer.file(configName, config);
    const written = new Set<string>();
    for (const [digest, layer] of [...layers].sort((a, b) => (infos.get(a[0])!.diffId < infos.get(b[0])!.diffId ? -1 : 1))) {
      const info = infos.get(digest)!;
      if (written.has(info.diffId)) continue;
      written.add(info.diffId);
      await writer.dir(info.diffId);
      const origin = info.origin;
      if (origin) await writer.stream(layerName(digest), info.tarSize, originTar(store, origin));
      else await produceLayer(store, stored(image, digest, layer), epoch, false, (s) => writer.stream(layerName(digest), info.tarSize, s), { diffId: info.diffId, tarSize: info.tarSize });
    }
    await writer.file('manifest.json', json(manifest));
    await writer.file('repositories', json(repositories));
    await writer.finish();
    rememberArchive(store, dest, key);
  } catch (err) {
    await writer.abort(err as Error);
    throw err;
  }
}

