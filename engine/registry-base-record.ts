/**
 * What the store remembers of a base image that came from a registry (doc `registry-images`,
 * by store name): written by a pull (engine/pull-image.ts) and by a registry base a
 * `--cache-from` cache let this machine use lazily once all its layers are in
 * (engine/cache-import.ts). Kept apart from pull-image.ts so that readers (the cache export,
 * the lazy import) do not load the registry client.
 *
 * The manifest's and the config's bytes are kept as text (a few KiB) so that a cache export
 * can carry them: a machine that resolves the same tag to the same manifest digest checks them
 * against that digest and plans its steps without downloading anything else.
 */
import type { ImageRecord, Store } from '../cache/store-types.js';

export const REGISTRY_IMAGES = 'registry-images';

export interface PulledRecord {
  name: string;
  reference: string;
  registry: string;
  repository: string;
  /** The image manifest's digest (for an index, the platform's manifest chosen from it). */
  manifestDigest: string;
  platform?: string;
  pulledAt: number;
  /** The manifest's bytes (UTF-8 JSON, sha256 = manifestDigest); absent in records older than it. */
  manifest?: string;
  /** The image config's bytes (sha256 = the manifest's config digest). */
  config?: string;
}

/** The pull record of a stored image, if it came from a registry. */
export function pulledRecord(store: Store, name: string): PulledRecord | undefined {
  return store.readDoc<PulledRecord>(REGISTRY_IMAGES, name);
}

/**
 * Record that `image` (already stored under `record.name`) came from a registry, and store it
 * by digest too, so that `FROM repo@sha256:…` of this manifest resolves from the store.
 */
export function recordPulled(store: Store, image: ImageRecord, record: PulledRecord): void {
  store.writeDoc(REGISTRY_IMAGES, record.name, record);
  const byDigest = `${record.reference.replace(/@sha256:[a-f0-9]{64}$/, '').replace(/:[\w][\w.-]{0,127}$/, '')}@${record.manifestDigest}`;
  if (byDigest !== record.name) store.putImage({ ...image, name: byDigest });
}
