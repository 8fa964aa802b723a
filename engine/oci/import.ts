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
 * Caches (store documents): an imported layer by diffID (a layer stratum already holds is
 * only hashed, not unpacked again), and a whole `oci-layout://` base by manifest digest, so a
 * rebuild (watch mode) resolves its base with a few small reads.
 */
import { isAbsolute, resolve } from 'node:path';
import { asLayerDigest, type LayerDigest } from '../../cache/digest.js';
import { sha256 } from '../../cache/hash.js';
import type { ImageConfig, ImageRecord, Store } from '../../cache/store-types.js';
import { chainOf } from '../union-view.js';
import { openArchive, openDirectory, type ArchiveSource } from './archive-source.js';
import { importConfig, importHistory } from './image-config.js';
import { ImportError } from './import-error.js';
import { checkBlob, hashFile, importLayer } from './layer-import.js';
import { IMAGE_NAME, MEDIA, REF_NAME, hostPlatform, sha256Hex, type Descriptor, type DockerArchiveEntry, type OciConfigFile, type OciIndex, type OciManifest } from './oci-types.js';
import { familiarName, rfc3339 } from './ref-names.js';

/** Bump when the mapping from layer tars to stratum layers changes (cached imports go stale). */
const IMPORT_FORMAT = 1;
const LAYER_DOCS = 'oci-imported-layers';
const BASE_DOCS = 'oci-layout-bases';

export const OCI_LAYOUT_SCHEME = 'oci-layout://';

export function isOciLayoutRef(ref: string): boolean {
  return ref.startsWith(OCI_LAYOUT_SCHEME);
}

/** `oci-layout://DIR[:TAG][@sha256:HEX]`; a relative DIR is relative to `baseDir`. */
export function parseOciLayoutRef(ref: string, baseDir: string): { dir: string; tag?: string; digest?: string } {
  let rest = ref.slice(OCI_LAYOUT_SCHEME.length);
  let digest: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0 && sha256Hex(rest.slice(at + 1))) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > 0 && /^[\w][\w.-]{0,127}$/.test(rest.slice(colon + 1))) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  if (rest === '') throw new ImportError('BAD_REF', `"${ref}" names no directory`, 'write FROM oci-layout://path/to/layout[:tag]');
  return { dir: isAbsolute(rest) ? rest : resolve(baseDir, rest), ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

// --- reading verified documents -----------------------------------------------------------------

const blobName = (hex: string) => `blobs/sha256/${hex}`;

/** A JSON blob named by a descriptor, checked against its digest and size. */
function readBlobJson<T>(src: ArchiveSource, d: Descriptor, what: string): T {
  const hex = sha256Hex(d.digest);
  if (!hex) throw new ImportError('BAD_DIGEST', `${src.label}: ${what} has an unsupported digest ${JSON.stringify(d.digest)}`, 'stratum reads sha256 digests only');
  const data = src.read(blobName(hex));
  if (!data) throw new ImportError('MISSING_BLOB', `${src.label}: ${what} blob ${d.digest} is missing`);
  checkBlob(`${src.label}: ${what} ${d.digest}`, { digest: sha256(data), size: data.length }, { digest: hex, ...(typeof d.size === 'number' && d.size >= 0 ? { size: d.size } : {}) });
  return parseJson<T>(src, data, what);
}

function parseJson<T>(src: ArchiveSource, data: Buffer, what: string): T {
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch {
    throw new ImportError('BAD_JSON', `${src.label}: ${what} is not valid JSON`);
  }
}

function readIndex(src: ArchiveSource): OciIndex {
  const data = src.read('index.json');
  if (!data) throw new ImportError('NOT_AN_IMAGE', `${src.label} has no index.json`);
  const index = parseJson<OciIndex>(src, data, 'index.json');
  if (!Array.isArray(index.manifests)) throw new ImportError('BAD_INDEX', `${src.label}: index.json has no manifests list`);
  return index;
}

const isIndex = (d: Descriptor) => d.mediaType === MEDIA.index || d.mediaType === MEDIA.dockerManifestList;

/** A manifest descriptor: itself, or for a nested index the host platform's manifest. */
function platformManifest(src: ArchiveSource, d: Descriptor): Descriptor {
  if (!isIndex(d)) return d;
  const nested = readBlobJson<OciIndex>(src, d, 'image index');
  const want = hostPlatform();
  const matches = (nested.manifests ?? []).filter((m) => !m.platform || (m.platform.os === want.os && m.platform.architecture === want.architecture));
  const pick = matches[0] ?? (nested.manifests?.length === 1 ? nested.manifests[0] : undefined);
  if (!pick) {
    const have = (nested.manifests ?? []).map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}` : '?')).join(', ');
    throw new ImportError('NO_PLATFORM', `${src.label}: no image for ${want.os}/${want.architecture} in ${d.digest} (has ${have || 'none'})`, 'export the image for this platform');
  }
  return platformManifest(src, pick);
}

/** Which manifest of a layout `tag` / `digest` select (one image when neither is given). */
function selectManifest(src: ArchiveSource, index: OciIndex, sel: { tag?: string; digest?: string }): Descriptor {
  const all = index.manifests;
  const tags = all.map((m) => m.annotations?.[REF_NAME]).filter((t): t is string => !!t);
  let found: Descriptor[];
  if (sel.digest) found = all.filter((m) => m.digest === sel.digest);
  else if (sel.tag !== undefined) found = all.filter((m) => m.annotations?.[REF_NAME] === sel.tag || familiarTag(m) === sel.tag);
  else found = all.length === 1 ? all : all.filter((m) => m.annotations?.[REF_NAME] === 'latest');
  if (sel.digest && !found.length) return platformManifest(src, { mediaType: MEDIA.manifest, digest: sel.digest, size: -1 });
  const want = hostPlatform();
  const onPlatform = found.filter((m) => !m.platform || (m.platform.os === want.os && m.platform.architecture === want.architecture));
  const pick = onPlatform[0] ?? found[0];
  if (!pick) {
    const what = sel.tag !== undefined ? `no image tagged "${sel.tag}"` : `${all.length} images and none tagged "latest"`;
    throw new ImportError('NO_SUCH_TAG', `${src.label}: ${what}`, tags.length ? `tags in this layout: ${[...new Set(tags)].join(', ')}` : 'the layout has no tagged images');
  }
  return platformManifest(src, pick);
}

/** The tag of an index entry named by a full reference (`webapp:dev` → `dev`). */
function familiarTag(d: Descriptor): string | undefined {
  const name = d.annotations?.[IMAGE_NAME];
  const colon = name?.lastIndexOf(':') ?? -1;
  return name && colon > name.lastIndexOf('/') ? name.slice(colon + 1) : undefined;
}

interface ManifestDocs {
  manifest: OciManifest;
  config: OciConfigFile;
}

function readManifest(src: ArchiveSource, d: Descriptor): ManifestDocs {
  const manifest = readBlobJson<OciManifest>(src, d, 'manifest');
  if (typeof manifest.config !== 'object' || manifest.config === null || !Array.isArray(manifest.layers)) {
    throw new ImportError('BAD_MANIFEST', `${src.label}: manifest ${d.digest} has no config or layers`);
  }
  const config = readBlobJson<OciConfigFile>(src, manifest.config, 'config');
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) {
    throw new ImportError('BAD_CONFIG', `${src.label}: config lists ${Array.isArray(diffIds) ? diffIds.length : 'no'} diff_ids for ${manifest.layers.length} layers`);
  }
  return { manifest, config };
}

// --- layers and images --------------------------------------------------------------------------

/** Import one layer blob (or reuse the layer already imported for this diffID). */
async function layerFor(store: Store, src: ArchiveSource, name: string, label: string, expect: { digest?: string; size?: number; diffId: string }): Promise<{ digest: LayerDigest; size: number }> {
  const path = src.file(name);
  if (!path) throw new ImportError('MISSING_BLOB', `${src.label}: ${label} (${name}) is missing`);
  const docName = `v${IMPORT_FORMAT} sha256:${expect.diffId}`;
  const known = store.readDoc<string>(LAYER_DOCS, docName);
  const layer = known !== undefined ? store.getLayer(asLayerDigest(known)) : undefined;
  if (layer) {
    // Still verify the blob the archive ships: a bad one means a bad archive, used or not.
    if (expect.digest !== undefined || expect.size !== undefined) checkBlob(`${src.label}: ${label}`, await hashFile(path), expect);
    return { digest: layer.digest, size: layer.size };
  }
  const imported = await importLayer(store, path, `${src.label}: ${label}`, expect);
  store.writeDoc(LAYER_DOCS, docName, imported.layer.digest);
  return { digest: imported.layer.digest, size: imported.layer.size };
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
  const src = await openArchive(store, path);
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
        found.push({ record: await importDockerArchive(store, src, e, i + 1), names: Array.isArray(e.RepoTags) ? e.RepoTags.filter((t) => typeof t === 'string') : [], what: `image ${i + 1}` });
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
        store.putImage(record);
        stored.push(store.getImage(name) ?? record);
      }
    }
    return stored;
  } finally {
    src.close();
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
    store.writeDoc(BASE_DOCS, docName, record);
    return { ...record, name: ref };
  } finally {
    src.close();
  }
}

function openLayoutRef(ref: string, baseDir: string): { src: ArchiveSource; desc: Descriptor } {
  const sel = parseOciLayoutRef(ref, baseDir);
  const src = openDirectory(sel.dir);
  if (!src) throw new ImportError('NOT_A_LAYOUT', `${sel.dir} is not a directory`, `FROM oci-layout:// names an OCI layout directory; for an archive file, run \`stratum load ${sel.dir} -t NAME\` and use FROM NAME`);
  if (!src.file('index.json')) throw new ImportError('NOT_A_LAYOUT', `${sel.dir} is not an OCI layout (no index.json)`, 'point oci-layout:// at a directory written by `stratum build -o type=oci,dest=DIR,tar=false`, skopeo or umoci');
  return { src, desc: selectManifest(src, readIndex(src), sel) };
}

/**
 * The config of an `oci-layout://` image, for planning (ENV, WORKDIR, USER… of the base):
 * synchronous, small reads only, verified like an import. Undefined when the layout cannot be
 * read: the build then reports why when it resolves the base.
 */
export function ociLayoutConfig(ref: string, baseDir: string): ImageConfig | undefined {
  try {
    const { src, desc } = openLayoutRef(ref, baseDir);
    return importConfig(readManifest(src, desc).config.config);
  } catch {
    return undefined;
  }
}
