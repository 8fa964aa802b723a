/**
 * Layer origins: the blob an imported layer came in, kept so that exporting or pushing the
 * unchanged layer ships exactly those bytes (issue 13). A registry that has a base image's
 * blobs is then not sent them again, and the image config keeps the diffIDs it had.
 *
 * `origins-v2/<2 hex>/<layer digest>.json` holds `{layer, diffId, tarSize, compressed}`; the
 * compressed bytes are an ordinary blob of the store, named by their sha256, which is exactly
 * their OCI descriptor digest (the same algorithm over the whole blob; a file blob's name is
 * the sha256 of one file's bytes, a different thing). The blob is written first, the record
 * after it, and a record whose blob is gone reads as absent, so a crash or a prune can only
 * lose an origin (the export then re-tars the layer), never point at wrong bytes. The first
 * origin of a layer is kept: two encodings of one layer are equally valid, and keeping one
 * keeps exports stable.
 *
 * Prune keeps a layer's origin blob as long as the layer (store-prune.ts adds it to the
 * layer's blobs).
 */
import { isDigestHex, type LayerDigest } from './digest.js';
import { writeFileAtomic } from './atomic-write.js';
import { StoreError } from './store-types.js';
import type { StoreState } from './store-state.js';
import { blobPresent } from './write-blob.js';
import * as sfs from './fs.js';

/** Where an imported layer's bytes came from. Digests are sha256 hex, no `sha256:` prefix. */
export interface LayerOrigin {
  layer: LayerDigest;
  /** sha256 of the uncompressed tar: the image config's `rootfs.diff_ids` entry. */
  diffId: string;
  /** Bytes of the uncompressed tar (a docker-archive's layer.tar entry needs it). */
  tarSize: number;
  /** The blob as received: its media type, sha256 and size. Its bytes are the store blob
   *  of that digest. */
  compressed: { mediaType: string; digest: string; size: number };
}

function valid(x: unknown, layer: LayerDigest): x is LayerOrigin {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  const c = o.compressed as Record<string, unknown> | undefined;
  return (
    o.layer === layer &&
    typeof o.diffId === 'string' &&
    isDigestHex(o.diffId) &&
    Number.isSafeInteger(o.tarSize) &&
    typeof c === 'object' &&
    c !== null &&
    typeof c.mediaType === 'string' &&
    typeof c.digest === 'string' &&
    isDigestHex(c.digest) &&
    Number.isSafeInteger(c.size)
  );
}

/** The origin of a layer, or undefined when there is none or its blob is gone. */
export function getLayerOrigin(s: StoreState, layer: LayerDigest): LayerOrigin | undefined {
  const text = sfs.readFile(s.layout.origin(layer));
  if (text === undefined) return undefined;
  let x: unknown;
  try {
    x = JSON.parse(text.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!valid(x, layer)) return undefined;
  return blobPresent(s, x.compressed.digest, x.compressed.size) ? x : undefined;
}

/** Record a layer's origin (its blob must be in the store already); keeps an existing one. */
export function putLayerOrigin(s: StoreState, origin: LayerOrigin): void {
  const layer0 = origin.layer;
  if (!valid(origin, layer0)) throw new StoreError('EINVALID', `store: malformed origin for layer ${layer0}`, { layer: layer0 });
  if (!blobPresent(s, origin.compressed.digest, origin.compressed.size)) {
    throw new StoreError('EMISSING', `store: the origin of layer ${origin.layer} names blob ${origin.compressed.digest}, which is not in the store; store the blob first`, {
      layer: origin.layer,
      blob: origin.compressed.digest,
    });
  }
  if (getLayerOrigin(s, origin.layer)) return;
  const { layer, diffId, tarSize, compressed } = origin;
  writeFileAtomic(s.dirs, s.layout.tmpDir, s.layout.origin(layer), JSON.stringify({ layer, diffId, tarSize, compressed: { mediaType: compressed.mediaType, digest: compressed.digest, size: compressed.size } }));
}

/** The origin blob named by a layer's origin file, for prune; undefined when unreadable. */
export function originBlob(s: StoreState, layer: LayerDigest): string | undefined {
  const text = sfs.readFile(s.layout.origin(layer));
  if (text === undefined) return undefined;
  try {
    const x = JSON.parse(text.toString('utf8')) as unknown;
    return valid(x, layer) ? x.compressed.digest : undefined;
  } catch {
    return undefined;
  }
}
