/**
 * A registry base under `--cache-from`, used lazily (issue 10): the exporting machine pulled
 * `FROM registry/repo:tag` and its cache records the manifest it got, the config, and the
 * stratum layer each blob unpacked to (engine/cache-export.ts). Here the reference is
 * resolved with the registry, as `docker buildx` does (a manifest GET, the index's too when
 * the tag names one; a `@sha256:` pin of that manifest needs no request). When it names the
 * cache's manifest, the base is a source of its own for engine/cache-import.ts: its image
 * record (config from the verified config bytes, exactly as a pull would store it) keys the
 * steps at once, and its blobs come from the base's registry only when something needs them,
 * each checked on the way in: its sha256 and size against the manifest, its tar against the
 * config's diffID, and the layer it unpacks to against the one the cache claims
 * (CACHE_LAYER_MISMATCH otherwise: the base is then pulled normally and its steps build).
 *
 * Nothing the cache says is used unchecked but the layer digests, and those are checked
 * before a byte of the layer is used.
 */
import { createHash } from 'node:crypto';
import type { LayerDigest } from '../cache/digest.js';
import type { ImageRecord } from '../cache/store-types.js';
import { CACHE_SCHEMA, type CacheBase, type CacheLayerRef, type CacheRegistryBase, type Source } from './cache-import.js';
import { normalizeRef } from './load.js';
import { importConfig, importHistory } from './oci/image-config.js';
import type { OciConfigFile, OciManifest } from './oci/oci-types.js';
import { rfc3339 } from './oci/ref-names.js';
import type { Platform } from './platform.js';
import type { RegistryClient } from './registry/client.js';
import { parseReference } from './registry/reference.js';
import { chainOf } from './union-view.js';

export type Resolved = { kind: 'same'; source: Source } | { kind: 'changed'; digest: string };

const sha256 = (text: string) => `sha256:${createHash('sha256').update(Buffer.from(text, 'utf8')).digest('hex')}`;

/**
 * Resolve `ref` with its registry and compare with what the cache recorded; throws when the
 * cache's copy of the manifest or config does not hold together (the caller warns and pulls).
 */
export async function resolveRegistryBase(base: CacheBase & { registry: CacheRegistryBase }, want: { ref: string; platform?: Platform }, client: RegistryClient): Promise<Resolved> {
  const r = base.registry;
  const ref = parseReference(want.ref);
  const digest = ref.digest === r.manifestDigest ? ref.digest : (await client.getManifest(ref, want.platform ? { platform: want.platform } : {})).digest;
  if (digest !== r.manifestDigest) return { kind: 'changed', digest };

  if (sha256(r.manifest) !== r.manifestDigest) throw new Error(`the cache's copy of manifest ${r.manifestDigest} does not match its digest`);
  const manifest = JSON.parse(r.manifest) as OciManifest;
  if (!manifest.config || sha256(r.config) !== manifest.config.digest) throw new Error(`the cache's copy of config ${manifest.config?.digest} does not match its digest`);
  const config = JSON.parse(r.config) as OciConfigFile;
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (!Array.isArray(manifest.layers) || manifest.layers.length !== diffIds.length || r.layers.length !== diffIds.length) {
    throw new Error(`manifest ${r.manifestDigest} has ${manifest.layers?.length} layers, its config ${diffIds.length} diffIDs, the cache ${r.layers.length} layers`);
  }
  const layers: { digest: LayerDigest; size: number }[] = r.layers.map((l) => ({ digest: l.layer, size: l.size }));
  const created = typeof config.created === 'string' ? config.created : rfc3339(0);
  // As engine/oci/import.ts's toRecord stores a pulled image: the same record, the same keys.
  const image: Omit<ImageRecord, 'name'> = {
    layers: layers.map((l) => l.digest),
    chain: chainOf(layers.map((l) => l.digest)),
    config: importConfig(config.config),
    history: importHistory(config.history, layers, created),
    created,
  };
  const refs: CacheLayerRef[] = manifest.layers.map((d, i) => ({ layer: r.layers[i]!.layer, size: r.layers[i]!.size, blob: { mediaType: d.mediaType, digest: d.digest, size: d.size }, diffId: diffIds[i]! }));
  const platform = config.os && config.architecture ? `${config.os}/${config.architecture}${config.variant ? `/${config.variant}` : ''}` : undefined;
  return {
    kind: 'same',
    source: {
      label: `base ${want.ref} (${ref.registry}/${ref.repository})`,
      config: { schema: CACHE_SCHEMA, entries: [], layers: refs, bases: [{ ref: want.ref, image }] },
      has: async (d) => (await client.headBlob(ref, d.digest)) !== undefined,
      fetch: async (d, dest) => {
        await client.fetchBlob(ref, d.digest, d.size, dest);
        return dest;
      },
      pulled: {
        name: normalizeRef(want.ref),
        reference: want.ref,
        registry: ref.registry,
        repository: ref.repository,
        manifestDigest: r.manifestDigest,
        ...(platform ? { platform } : {}),
        pulledAt: Date.now(),
        manifest: r.manifest,
        config: r.config,
      },
    },
  };
}
