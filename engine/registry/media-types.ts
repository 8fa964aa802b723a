/**
 * Media types a registry serves: OCI and Docker schema 2 manifests and indexes, and layer
 * compressions. Schema 1 (signed JSON without content addressing of the config) is refused.
 */
import { MEDIA } from '../oci/oci-types.js';

export const MANIFEST_TYPES = [MEDIA.manifest, MEDIA.dockerManifest] as const;
export const INDEX_TYPES = [MEDIA.index, MEDIA.dockerManifestList] as const;
/** What a manifest GET accepts, in the order docker sends them. */
export const ACCEPT_MANIFESTS = [MEDIA.index, MEDIA.dockerManifestList, MEDIA.manifest, MEDIA.dockerManifest].join(', ');
export const DOCKER_SCHEMA1 = ['application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws'];

export const LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
export const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
export const DOCKER_FOREIGN_LAYER_GZIP = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';

export type Compression = 'gzip' | 'zstd' | 'none';

/** The compression a layer media type names, or undefined for one that is not a layer tar. */
export function layerCompression(mediaType: string): Compression | undefined {
  switch (mediaType) {
    case MEDIA.layerGzip:
    case DOCKER_LAYER_GZIP:
    case DOCKER_FOREIGN_LAYER_GZIP:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip':
      return 'gzip';
    case LAYER_ZSTD:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd':
      return 'zstd';
    case MEDIA.layerTar:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar':
      return 'none';
    default:
      return undefined;
  }
}

export const isIndexType = (t: string | undefined): boolean => t === MEDIA.index || t === MEDIA.dockerManifestList;
export const isManifestType = (t: string | undefined): boolean => t === MEDIA.manifest || t === MEDIA.dockerManifest;
