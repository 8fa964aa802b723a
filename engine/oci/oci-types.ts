/**
 * The OCI image-spec and docker-archive documents stratum reads and writes: media types,
 * descriptors, index, manifest and config, and the checks every digest read from outside
 * must pass before it names a file (a digest becomes a path: `blobs/sha256/<hex>`).
 */
import type { ImageConfig } from '../../cache/store-types.js';

export const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

/** Annotation with the tag of a manifest in an OCI layout's index.json (skopeo's `oci:DIR:TAG`). */
export const REF_NAME = 'org.opencontainers.image.ref.name';
/** Annotation with the full image name (containerd, BuildKit, `docker save` since 25). */
export const IMAGE_NAME = 'io.containerd.image.name';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface OciIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface OciManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface OciHistory {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** The image config blob (OCI image-spec config.md; docker's image JSON is a superset). */
export interface OciConfigFile {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  config?: ImageConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: OciHistory[];
}

/** One image of a docker-archive's manifest.json. */
export interface DockerArchiveEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

const SHA256 = /^sha256:([a-f0-9]{64})$/;

/** The hex of a `sha256:<64 hex>` digest, or undefined when it is anything else (another
 *  algorithm, upper case, a path in disguise like `sha256:../../x`). */
export function sha256Hex(digest: unknown): string | undefined {
  return typeof digest === 'string' ? SHA256.exec(digest)?.[1] : undefined;
}

/** The platform of images stratum builds: the host's CPU (RUN executes on the host), os linux. */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' };
  return { architecture: arch[process.arch] ?? process.arch, os: 'linux' };
}
