/**
 * Tagged images: `images-v2/<encoded name>.json`, one file per name, replaced atomically.
 * An image is a root for prune: its layers are never removed while it exists.
 */
import { join } from 'node:path';
import { isDigestHex } from './digest.js';
import { StoreError, type ImageRecord } from './store-types.js';
import { writeFileAtomic } from './atomic-write.js';
import { imageFileStem, normalizeImageName } from './image-name.js';
import { layerComplete } from './layer-store.js';
import type { StoreState } from './store-state.js';
import * as sfs from './fs.js';

const imagePath = (s: StoreState, normalized: string) => join(s.layout.imageDir, `${imageFileStem(normalized)}.json`);

/** Store an image under its normalized name; every layer must be in the store. */
export function putImage(s: StoreState, image: ImageRecord): void {
  const name = normalizeImageName(image.name);
  const missing = image.layers.filter((l) => !layerComplete(s, l));
  if (missing.length) {
    throw new StoreError('EMISSING', `store: image ${name} names ${missing.length} layer(s) not in the store, e.g. ${missing[0]}`, {
      name,
      missing,
    });
  }
  writeFileAtomic(s.dirs, s.layout.tmpDir, imagePath(s, name), JSON.stringify({ ...image, name }));
}

export function getImage(s: StoreState, name: string): ImageRecord | undefined {
  const normalized = normalizeImageName(name);
  const text = sfs.readFile(imagePath(s, normalized));
  const image = text && decodeImage(text.toString('utf8'));
  return image && image.name === normalized ? image : undefined;
}

/** Every readable image, sorted by name. */
export function listImages(s: StoreState): ImageRecord[] {
  const out: ImageRecord[] = [];
  for (const file of sfs.readdir(s.layout.imageDir)) {
    if (!file.endsWith('.json')) continue;
    const text = sfs.readFile(join(s.layout.imageDir, file));
    const image = text && decodeImage(text.toString('utf8'));
    if (image) out.push(image);
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function removeImage(s: StoreState, name: string): boolean {
  return sfs.unlink(imagePath(s, normalizeImageName(name)));
}

function decodeImage(text: string): ImageRecord | undefined {
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof x !== 'object' || x === null) return undefined;
  const r = x as Partial<Record<keyof ImageRecord, unknown>>;
  const ok =
    typeof r.name === 'string' &&
    Array.isArray(r.layers) &&
    r.layers.every((l) => typeof l === 'string' && isDigestHex(l)) &&
    typeof r.chain === 'string' &&
    isDigestHex(r.chain) &&
    typeof r.config === 'object' &&
    r.config !== null &&
    Array.isArray(r.history) &&
    typeof r.created === 'string';
  return ok ? (x as ImageRecord) : undefined;
}
