/**
 * The embedded store: content-addressed blobs, layer manifests, step keys, images and small
 * documents under one root directory, shared by every project of a user (DESIGN.md, "The
 * store"; the layout is in store-layout.ts).
 *
 * Invariants:
 * - every file appears by rename of a complete temp file: a reader or a crash never sees a
 *   torn entry;
 * - a key is written last, after its layer and every blob the layer names, and is returned
 *   only while all of those are present: a corrupt or incomplete entry is a miss, never a
 *   wrong result;
 * - what is read back is verified (blob bytes against their digest, manifests against
 *   theirs); a bad entry is deleted so the next build rewrites it.
 */
import { randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { BlobDigest, LayerDigest, StepKey } from './digest.js';
import type { LocalStore, PruneOptions } from './store-types.js';
import { createState, syncEpoch } from './store-state.js';
import { adoptBlobFile, trustListedBlobs, writeBlobBytes, writeBlobFromFile } from './write-blob.js';
import { hasBlob, readBlob } from './read-blob.js';
import { getLayer, putLayer } from './layer-store.js';
import { getLayerOrigin, putLayerOrigin } from './layer-origin.js';
import { getKey, layerOfKey, putKey } from './key-store.js';
import { getImage, listImages, putImage, removeImage } from './image-store.js';
import { verifyStore } from './store-verify.js';
import { pruneStore } from './store-prune.js';
import { storeSize } from './store-size.js';
import { acquireDir, slotsOf } from './owned-dirs.js';
import { readBinaryDoc, readDoc, writeBinaryDoc, writeDoc } from './store-docs.js';
import { dirLeased, openLease } from './leases.js';

/**
 * The store root: `$STRATUM_CACHE_DIR`, else `$XDG_CACHE_HOME/stratum` (when absolute, as
 * the XDG spec requires), else `~/.cache/stratum`.
 */
export function defaultStoreRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.STRATUM_CACHE_DIR) return resolve(env.STRATUM_CACHE_DIR);
  if (env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME)) return join(env.XDG_CACHE_HOME, 'stratum');
  return join(env.HOME || homedir(), '.cache', 'stratum');
}

/** A store at `root` (created on first write). Every function is bound to this root; two
 *  store objects on one root, in one process or several, see each other's writes. */
export function createStore(root: string): LocalStore {
  const s = createState(resolve(root));
  const L = s.layout;
  return {
    root: L.root,

    blobPath: (digest: BlobDigest) => L.blob(digest),
    hasBlob: (digest) => hasBlob(s, digest),
    writeBlobFromFile: (path, expect) => writeBlobFromFile(s, path, expect),
    writeBlob: (data) => writeBlobBytes(s, data),
    adoptBlobFile: (path, known) => adoptBlobFile(s, path, known),
    readBlob: (digest, size) => readBlob(s, digest, size),

    putLayer(entries) {
      syncEpoch(s);
      return putLayer(s, entries);
    },
    getLayer(digest: LayerDigest) {
      syncEpoch(s);
      return getLayer(s, digest);
    },

    putLayerOrigin(origin) {
      syncEpoch(s);
      putLayerOrigin(s, origin);
    },
    getLayerOrigin(digest: LayerDigest) {
      syncEpoch(s);
      return getLayerOrigin(s, digest);
    },

    putKey(record) {
      syncEpoch(s);
      putKey(s, record);
    },
    getKey(key: StepKey) {
      syncEpoch(s);
      return getKey(s, key);
    },
    layerOfKey(key: StepKey) {
      syncEpoch(s);
      return layerOfKey(s, key);
    },
    trustListedBlobs(blobs) {
      syncEpoch(s);
      return trustListedBlobs(s, blobs);
    },

    putImage(image) {
      syncEpoch(s);
      putImage(s, image);
    },
    getImage: (name) => getImage(s, name),
    listImages: () => listImages(s),
    removeImage: (name) => removeImage(s, name),

    readDoc: <T>(kind: string, name: string) => readDoc<T>(s, kind, name),
    writeDoc: (kind, name, value, meta) => writeDoc(s, kind, name, value, meta),
    readBinaryDoc: (kind, name) => readBinaryDoc(s, kind, name),
    writeBinaryDoc: (kind, name, payload, meta) => writeBinaryDoc(s, kind, name, payload, meta),

    dir(kind, name) {
      const path = L.dir(kind, name);
      s.dirs.ensure(path);
      return path;
    },

    acquireDir: (kind, name, opts) => acquireDir(s, kind, name, opts),
    importDir: () => acquireDir(s, 'import', `${process.pid}-${randomBytes(8).toString('hex')}`)!,
    dirSlots: (kind, name) => slotsOf(s, kind, name),
    openLease: (what) => openLease(s, what),
    dirLeased: (path, except) => dirLeased(s, path, except),

    size: () => storeSize(s),
    verify: () => verifyStore(s),
    prune: (opts: PruneOptions) => pruneStore(s, opts),
  };
}
