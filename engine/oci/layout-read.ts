/**
 * Reading an OCI image layout's documents, each checked against the digest that names it:
 * index.json → manifest (sha256 and size of its descriptor) → config. Synchronous and light
 * (small JSON reads, no tar code), because planning resolves `FROM oci-layout://…` configs
 * through it on every build.
 */
import { isAbsolute, resolve } from 'node:path';
import { sha256 } from '../../cache/hash.js';
import type { ImageConfig } from '../../cache/store-types.js';
import { openDirectory, type ArchiveSource } from './archive-dir.js';
import { importConfig } from './image-config.js';
import { ImportError } from './import-error.js';
import { IMAGE_NAME, MEDIA, REF_NAME, hostPlatform, sha256Hex, type Descriptor, type OciConfigFile, type OciIndex, type OciManifest } from './oci-types.js';

/** Check a blob's sha256 and size against what its descriptor says. */
export function checkBlob(label: string, found: { digest: string; size: number }, expect: { digest?: string; size?: number }): void {
  if (expect.size !== undefined && found.size !== expect.size) {
    throw new ImportError('SIZE_MISMATCH', `${label}: blob is ${found.size} bytes, its descriptor says ${expect.size}`);
  }
  if (expect.digest !== undefined && found.digest !== expect.digest) {
    throw new ImportError('DIGEST_MISMATCH', `${label}: blob has sha256 ${found.digest}, its descriptor says ${expect.digest}`);
  }
}

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

export const blobName = (hex: string) => `blobs/sha256/${hex}`;

/** A JSON blob named by a descriptor, checked against its digest and size. */
export function readBlobJson<T>(src: ArchiveSource, d: Descriptor, what: string): T {
  const hex = sha256Hex(d.digest);
  if (!hex) throw new ImportError('BAD_DIGEST', `${src.label}: ${what} has an unsupported digest ${JSON.stringify(d.digest)}`, 'stratum reads sha256 digests only');
  const data = src.read(blobName(hex));
  if (!data) throw new ImportError('MISSING_BLOB', `${src.label}: ${what} blob ${d.digest} is missing`);
  checkBlob(`${src.label}: ${what} ${d.digest}`, { digest: sha256(data), size: data.length }, { digest: hex, ...(typeof d.size === 'number' && d.size >= 0 ? { size: d.size } : {}) });
  return parseJson<T>(src, data, what);
}

export function parseJson<T>(src: ArchiveSource, data: Buffer, what: string): T {
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch {
    throw new ImportError('BAD_JSON', `${src.label}: ${what} is not valid JSON`);
  }
}

export function readIndex(src: ArchiveSource): OciIndex {
  const data = src.read('index.json');
  if (!data) throw new ImportError('NOT_AN_IMAGE', `${src.label} has no index.json`);
  const index = parseJson<OciIndex>(src, data, 'index.json');
  if (!Array.isArray(index.manifests)) throw new ImportError('BAD_INDEX', `${src.label}: index.json has no manifests list`);
  return index;
}

const isIndex = (d: Descriptor) => d.mediaType === MEDIA.index || d.mediaType === MEDIA.dockerManifestList;

/** A manifest descriptor: itself, or for a nested index the host platform's manifest. */
export function platformManifest(src: ArchiveSource, d: Descriptor): Descriptor {
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
export function selectManifest(src: ArchiveSource, index: OciIndex, sel: { tag?: string; digest?: string }): Descriptor {
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

export interface ManifestDocs {
  manifest: OciManifest;
  config: OciConfigFile;
}

export function readManifest(src: ArchiveSource, d: Descriptor): ManifestDocs {
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

/** The layout directory and the manifest an `oci-layout://` reference selects. */
export function openLayoutRef(ref: string, baseDir: string): { src: ArchiveSource; desc: Descriptor } {
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
