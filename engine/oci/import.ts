/**
 * Images into the store: `stratum load X.tar|DIR` (OCI layouts and docker-archives) and
 * `FROM oci-layout://DIR[:TAG|@sha256:…]` in a Dockerfile.
 *
 * Trust: every document and blob is checked against the digest that names it before it is
 * used: index → manifest (sha256 and size of its descriptor) → config and layers (the
 * same), and each layer's uncompressed tar against the config's `rootfs.diff_ids`. For a
 * docker-archive, whose manifest.json carries no digests, the config is checked against its
 * file name when that is a digest, and the layers against the config's diff_ids.
 *
 * Each imported layer keeps its blob as received, with its diffID (its origin), so that an
 * export of the unchanged layer ships the same bytes under the same digests.
 *
 * Caches (store documents): an imported layer by diffID (a layer stratum already holds, with
 * its origin, is only hashed, not unpacked again), and a whole `oci-layout://` base by manifest digest, so a
 * rebuild (watch mode) resolves its base with a few small reads.
 */
import { asBlobDigest, asLayerDigest, type LayerDigest } from '../../cache/digest.js';
import { sha256 } from '../../cache/hash.js';
import type { ImageRecord, Store } from '../../cache/store-types.js';
import { chainOf } from '../union-view.js';
import type { ArchiveSource } from './archive-dir.js';
import { openArchive } from './archive-source.js';
import { importHistory, importConfig } from './image-config.js';
import { ImportError } from './import-error.js';
import { hashFile, importLayer, type ImportedLayer } from './layer-import.js';
import { blobName, checkBlob, openLayoutRef, parseJson, platformManifest, readIndex, readManifest, type ManifestDocs } from './layout-read.js';
import { IMAGE_NAME, MEDIA, REF_NAME, sha256Hex, type Descriptor, type DockerArchiveEntry, type OciConfigFile } from './oci-types.js';
import { familiarName, rfc3339 } from './ref-names.js';
import { LAYER_ZSTD } from '../registry/media-types.js';

/** Bump when the mapping from layer tars to stratum layers changes (cached imports go stale). */
const IMPORT_FORMAT = 2;
const LAYER_DOCS = 'oci-imported-layers';
const BASE_DOCS = 'oci-layout-bases';

// --- layers and images --------------------------------------------------------------------------

/** Import one layer blob (or reuse the layer already imported for this diffID). */
async function layerFor(store: Store, src: ArchiveSource, name: string, label: string, expect: { digest?: string; size?: number; diffId: string }): Promise<{ digest: LayerDigest; size: number }> {
  const path = src.file(name);
  if (!path) throw new ImportError('MISSING_BLOB', `${src.label}: ${label} (${name}) is missing`);
  return importLayerFile(store, path, `${src.label}: ${label}`, expect);
}

/**
 * Import one layer blob file (gzip, zstd or plain tar), verified against `expect` (sha256 hex
 * of the blob and of its tar), keeping its bytes as the layer's origin; a layer already
 * imported for this diffID is reused. Also what a lazily imported step cache uses.
 */
export async function importLayerFile(store: Store, path: string, label: string, expect: { digest?: string; size?: number; diffId: string; verified?: boolean }): Promise<{ digest: LayerDigest; size: number }> {
  const docName = `v${IMPORT_FORMAT} sha256:${expect.diffId}`;
  const known = store.readDoc<string>(LAYER_DOCS, docName);
  const layer = known !== undefined ? store.getLayer(asLayerDigest(known)) : undefined;
  if (layer && store.getLayerOrigin(layer.digest)) {
    // Still verify the blob the archive ships: a bad one means a bad archive, used or not.
    if (!expect.verified && (expect.digest !== undefined || expect.size !== undefined)) checkBlob(label, await hashFile(path), expect);
    return { digest: layer.digest, size: layer.size };
  }
  const imported = await importLayer(store, path, label, expect);
  keepOrigin(store, path, imported, expect.verified === true);
  store.writeDoc(LAYER_DOCS, docName, imported.layer.digest, { layers: [imported.layer.digest] });
  return { digest: imported.layer.digest, size: imported.layer.size };
}

/**
 * Keep the layer's blob as received, with its diffID (cache/layer-origin.ts), so that exporting
 * the unchanged layer reuses these bytes. The store names the blob by its sha256, which
 * importLayer has just checked against the descriptor: the two must agree. A verified
 * download (this process's own file, hashed as it came in) is hard-linked into the store; a
 * file from outside (an archive, a local cache) is copied and hashed again, since it could
 * have changed since it was read.
 */
function keepOrigin(store: Store, path: string, imported: ImportedLayer, verified: boolean): void {
  const known = { digest: asBlobDigest(imported.digest), size: imported.size };
  const blob = verified ? store.adoptBlobFile(path, known) : store.writeBlobFromFile(path, known);
  store.putLayerOrigin({
    layer: imported.layer.digest,
    diffId: imported.diffId,
    tarSize: imported.tarSize,
    compressed: { mediaType: imported.compression === 'gzip' ? MEDIA.layerGzip : imported.compression === 'zstd' ? LAYER_ZSTD : MEDIA.layerTar, digest: blob.digest, size: blob.size },
  });
}

function toRecord(name: string, config: OciConfigFile, layers: { digest: LayerDigest; size: number }[]): ImageRecord {
  const created = typeof config.created === 'string' ? config.created : rfc3339(0);
  return {
    name,
    layers: layers.map((l) => l.digest),
    chain: chainOf(layers.map((l) => l.digest)),
    config: importConfig(config.config),
    history: importHistory(config.history, layers, created),
    created,
  };
}

async function importOciImage(store: Store, src: ArchiveSource, docs: ManifestDocs): Promise<ImageRecord> {
  const layers: { digest: LayerDigest; size: number }[] = [];
  for (const [i, d] of docs.manifest.layers.entries()) {
    const hex = sha256Hex(d.digest);
    const diffId = sha256Hex(docs.config.rootfs.diff_ids[i]);
    if (!hex || !diffId) throw new ImportError('BAD_DIGEST', `${src.label}: layer ${i + 1} has an unsupported digest ${JSON.stringify(hex ? docs.config.rootfs.diff_ids[i] : d.digest)}`, 'stratum reads sha256 digests only');
    layers.push(await layerFor(store, src, blobName(hex), `layer ${i + 1} (${d.digest})`, { digest: hex, size: d.size, diffId }));
  }
  return toRecord('', docs.config, layers);
}

/** Names an index entry carries: the containerd name, else a ref.name that is a full name. */
function namesOf(d: Descriptor): string[] {
  const full = d.annotations?.[IMAGE_NAME];
  if (full) return [familiarName(full)];
  const ref = d.annotations?.[REF_NAME];
  return ref && (ref.includes(':') || ref.includes('/')) ? [ref] : [];
}

async function importDockerArchive(store: Store, src: ArchiveSource, entry: DockerArchiveEntry, n: number): Promise<ImageRecord> {
  if (typeof entry.Config !== 'string' || !Array.isArray(entry.Layers)) throw new ImportError('BAD_MANIFEST', `${src.label}: manifest.json entry ${n} has no Config or Layers`);
  const data = src.read(entry.Config);
  if (!data) throw new ImportError('MISSING_BLOB', `${src.label}: config ${entry.Config} is missing`);
  const named = /(?:^|\/)([a-f0-9]{64})(?:\.json)?$/.exec(entry.Config)?.[1];
  if (named) checkBlob(`${src.label}: config ${entry.Config}`, { digest: sha256(data), size: data.length }, { digest: named });
  const config = parseJson<OciConfigFile>(src, data, entry.Config);
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== entry.Layers.length) {
    throw new ImportError('BAD_CONFIG', `${src.label}: config lists ${Array.isArray(diffIds) ? diffIds.length : 'no'} diff_ids for ${entry.Layers.length} layers`);
  }
  const layers: { digest: LayerDigest; size: number }[] = [];
  for (const [i, name] of entry.Layers.entries()) {
    const diffId = sha256Hex(diffIds[i]);
    if (!diffId || typeof name !== 'string') throw new ImportError('BAD_DIGEST', `${src.label}: layer ${i + 1} has an unsupported diff_id ${JSON.stringify(diffIds[i])}`, 'stratum reads sha256 digests only');
    // `docker save` since 25 names layers by their blob digest: that is checked too.
    const blobHex = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name)?.[1];
    layers.push(await layerFor(store, src, name, `layer ${i + 1} (${name})`, { diffId, ...(blobHex ? { digest: blobHex } : {}) }));
  }
  return toRecord('', config, layers);
}

// --- entry points -------------------------------------------------------------------------------

/**
 * `stratum load`: every image of an archive or layout into the store, under the names it
 * carries (or `opts.name`, when it holds one image). Returns what was stored.
 */
export async function loadArchive(store: Store, path: string, opts: { name?: string } = {}): Promise<ImageRecord[]> {
  // Everything this import writes is younger than its lease: prune keeps it until we are done.
  const lease = store.openLease(`load ${path}`);
  let src: ArchiveSource;
  try {
    src = await openArchive(store, path);
  } catch (err) {
    lease.release();
    throw err;
  }
  try {
    const found: { record: ImageRecord; names: string[]; what: string }[] = [];
    if (src.file('index.json')) {
      const index = readIndex(src);
      if (!index.manifests.length) throw new ImportError('NOT_AN_IMAGE', `${src.label}: index.json lists no images`);
      if (opts.name !== undefined && index.manifests.length > 1) throw tooMany(src, index.manifests.length);
      for (const d of index.manifests) {
        const docs = readManifest(src, platformManifest(src, d));
        const what = d.annotations?.[REF_NAME] ?? d.digest;
        found.push({ record: await importOciImage(store, src, docs), names: namesOf(d), what });
      }
    } else if (src.file('manifest.json')) {
      const entries = parseJson<DockerArchiveEntry[]>(src, src.read('manifest.json')!, 'manifest.json');
      if (!Array.isArray(entries) || !entries.length) throw new ImportError('NOT_AN_IMAGE', `${src.label}: manifest.json lists no images`);
      if (opts.name !== undefined && entries.length > 1) throw tooMany(src, entries.length);
      for (const [i, e] of entries.entries()) {
        found.push({ record: await importDockerArchive(store, src, e, i + 1), names: Array.isArray(e.RepoTags) ? e.RepoTags.filter((t) => typeof t === 'string').map(familiarName) : [], what: `image ${i + 1}` });
      }
    } else {
      throw new ImportError('NOT_AN_IMAGE', `${src.label} is neither an OCI layout (no index.json) nor a docker-archive (no manifest.json)`, 'pass a directory or tar written by `stratum build -o type=oci|docker`, `docker save`, skopeo or umoci');
    }
    const stored: ImageRecord[] = [];
    for (const f of found) {
      const names = opts.name !== undefined ? [opts.name] : f.names;
      if (!names.length) {
        throw new ImportError('NO_NAME', `${src.label}: ${f.what} carries no image name`, `name it: stratum load ${path} -t NAME[:TAG]`);
      }
      for (const name of names) {
        const record = { ...f.record, name };
        lease.add({ layers: record.layers });
        store.putImage(record);
        stored.push(store.getImage(name) ?? record);
      }
    }
    return stored;
  } finally {
    src.close();
    lease.release();
  }
}

function tooMany(src: ArchiveSource, n: number): ImportError {
  return new ImportError('TOO_MANY', `${src.label} holds ${n} images; -t can name only one`, 'load it without -t to keep the names it carries');
}

/**
 * `FROM oci-layout://DIR[:TAG|@sha256:…]`: import the image from the layout (unless this
 * manifest was imported before and its layers are still in the store) and return it, named
 * by the reference. The image is not tagged in the store.
 */
export async function resolveOciLayoutBase(store: Store, ref: string, baseDir: string): Promise<ImageRecord> {
  const { src, desc } = openLayoutRef(ref, baseDir);
  try {
    const docName = `v${IMPORT_FORMAT} ${desc.digest}`;
    const known = store.readDoc<ImageRecord>(BASE_DOCS, docName);
    if (known && Array.isArray(known.layers) && known.layers.every((l) => store.getLayer(l))) return { ...known, name: ref };
    const record = await importOciImage(store, src, readManifest(src, desc));
    // Kept, with its layers, while an image or a kept key stands on it (store-prune-other.ts).
    store.writeDoc(BASE_DOCS, docName, record, { base: { chain: record.chain }, layers: record.layers });
    return { ...record, name: ref };
  } finally {
    src.close();
  }
}

