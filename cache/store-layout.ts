/**
 * Where everything lives inside a store root. The versioned folders all take their suffix
 * from STORE_VERSION, so a layout change is one bump and old folders are simply ignored
 (and removed by `stratum cache prune`, see LEGACY_FOLDER):
 *
 *   blobs-v2/<2 hex>/<64 hex>            file contents, read-only (0o444), named by sha256
 *   layers-v2/<2 hex>/<digest>.json      layer manifests (layer model v2)
 *   keys-v2/<2 hex>/<key>.json           step key → layer, record, timings; mtime = last use
 *   origins-v2/<2 hex>/<layer>.json      an imported layer's original blob (diffID and the
 *                                        compressed blob's descriptor; the blob is in blobs-v2)
 *   complete-v2/<2 hex>/<layer>          "every blob of this layer is present", per epoch
 *   images-v2/<encoded name>.json        tagged images
 *   docs-v2/<kind>/<xxh64(name)>.json    small JSON documents (xxh64 of the name is enough:
 *                                        the name inside is checked, a collision is a miss)
 *   docs-v2/<kind>/<xxh64(name)>.bin     binary documents (store-docs.ts), same naming
 *   dirs/<kind>/<xxh64(name)>/           mutable directories: slots <n>/ with <n>.lock,
 *                                        <n>.dirty, <n>.used (owned-dirs.ts)
 *   leases/<pid>-<random>.json           what running builds and imports stand on (leases.ts)
 *   tmp/<pid>-<random>                   temp files, renamed into place
 *   epoch                                rewritten whenever the store deletes an entry, so
 *                                        other store objects drop what they cached as present
 *
 * The two-hex fan-out keeps directories small (256 of them; 50k blobs → ~200 per folder).
 */
import { join } from 'node:path';
import { STORE_VERSION, StoreError } from './store-types.js';
import { isDigestHex } from './digest.js';
import { xxh64 } from './hash.js';

const v = (kind: string) => `${kind}-v${STORE_VERSION}`;

export const BLOBS = v('blobs');
export const LAYERS = v('layers');
export const KEYS = v('keys');
export const IMAGES = v('images');
export const DOCS = v('docs');
export const ORIGINS = v('origins');
export const COMPLETE = v('complete');
/** A versioned folder of another layout version (`blobs-v1`, …): ignored, removed by prune. */
export const LEGACY_FOLDER = /^(blobs|layers|keys|images|docs|complete|origins)-v([0-9]+)$/;
export const DIRS = 'dirs';
export const TMP = 'tmp';
export const EPOCH = 'epoch';

const KIND = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** A `kind` is a folder name chosen by the engine (`contexts`, `steps`, `workspaces`). */
export function checkKind(kind: string): void {
  if (!KIND.test(kind)) {
    throw new StoreError('EINVALID', `store: invalid document kind ${JSON.stringify(kind)} (use lower-case letters, digits, . _ -)`, { kind });
  }
}

export interface Layout {
  root: string;
  blobDir: string;
  layerDir: string;
  keyDir: string;
  imageDir: string;
  originDir: string;
  completeDir: string;
  tmpDir: string;
  epochFile: string;
  blob(digest: string): string;
  layer(digest: string): string;
  key(key: string): string;
  origin(layer: string): string;
  doc(kind: string, name: string): string;
  binDoc(kind: string, name: string): string;
  dir(kind: string, name: string): string;
}

/** Paths for a store at `root`. Digests are checked to be 64 hex chars, so no caller can
 *  build a path outside the store. */
export function layoutOf(root: string): Layout {
  const fanned = (base: string, digest: string, suffix: string) => {
    if (!isDigestHex(digest)) throw new StoreError('EINVALID', `store: invalid digest ${JSON.stringify(digest)}`, { digest });
    // `base` is normalized and a digest is hex: a template gives what join() would, without
    // its normalization (10k blob paths of a COPY: 28 ms through join here).
    return `${base}/${digest.slice(0, 2)}/${digest}${suffix}`;
  };
  const blobDir = join(root, BLOBS);
  const layerDir = join(root, LAYERS);
  const keyDir = join(root, KEYS);
  return {
    root,
    blobDir,
    layerDir,
    keyDir,
    imageDir: join(root, IMAGES),
    originDir: join(root, ORIGINS),
    completeDir: join(root, COMPLETE),
    tmpDir: join(root, TMP),
    epochFile: join(root, EPOCH),
    blob: (d) => fanned(blobDir, d, ''),
    layer: (d) => fanned(layerDir, d, '.json'),
    key: (k) => fanned(keyDir, k, '.json'),
    origin: (d) => fanned(join(root, ORIGINS), d, '.json'),
    doc: (kind, name) => (checkKind(kind), join(root, DOCS, kind, `${xxh64(name)}.json`)),
    binDoc: (kind, name) => (checkKind(kind), join(root, DOCS, kind, `${xxh64(name)}.bin`)),
    dir: (kind, name) => (checkKind(kind), join(root, DIRS, kind, xxh64(name))),
  };
}
