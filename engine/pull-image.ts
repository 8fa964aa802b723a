/**
 * `FROM name[:tag|@sha256:…]` from a registry, and `stratum pull`: the image is pulled once
 * into a temporary OCI layout (every blob verified by the client before it gets its name),
 * imported with the same verified import as `stratum load` (engine/oci/import.ts: every
 * digest and diffID checked again), and tagged in the store under its normalised name. The
 * manifest digest is recorded beside it (doc `registry-images`), so a later build resolves
 * the base from the store without asking the registry, unless `--pull` is given.
 *
 * Nothing unverified ever reaches the store: the temporary layout lives outside it and is
 * removed whatever happens.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageRecord, Store } from '../cache/store-types.js';
import { normalizeRef } from './load.js';
import type { Platform } from './platform.js';
import { createRegistryClient, type RegistryClient } from './registry/client.js';
import { pullToLayout } from './registry/layout-transfer.js';
import { parseReference } from './registry/reference.js';
import { recordPulled, type PulledRecord } from './registry-base-record.js';

export { REGISTRY_IMAGES, pulledRecord, type PulledRecord } from './registry-base-record.js';

export interface PullOptions {
  platform?: Platform;
  /** Registries reached over plain http:// (`--insecure-registry`); loopback always is. */
  insecure?: string[];
  client?: RegistryClient;
}

export interface PullResult {
  image: ImageRecord;
  manifestDigest: string;
  name: string;
}

/** The name a registry reference is stored under: the text as written, `:latest` added. */
export const storeNameOf = (ref: string): string => normalizeRef(ref);

/** Pull `refText` into the store (see the file comment). Throws RegistryError / ImportError. */
export async function pullImage(store: Store, refText: string, opts: PullOptions = {}): Promise<PullResult> {
  const ref = parseReference(refText);
  const client = opts.client ?? createRegistryClient(opts.insecure?.length ? { insecure: opts.insecure } : {});
  const dir = mkdtempSync(join(tmpdir(), 'stratum-pull-'));
  try {
    const pulled = await pullToLayout(client, ref, join(dir, 'layout'), opts.platform ? { platform: opts.platform } : {});
    const name = storeNameOf(refText);
    const { loadArchive } = await import('./oci/import.js');
    const [image] = await loadArchive(store, join(dir, 'layout'), { name });
    const blob = (digest: string) => readFileSync(join(dir, 'layout', 'blobs', 'sha256', digest.slice(7)), 'utf8');
    const record: PulledRecord = {
      name,
      reference: refText,
      registry: ref.registry,
      repository: ref.repository,
      manifestDigest: pulled.manifestDigest,
      ...(pulled.descriptor.platform ? { platform: `${pulled.descriptor.platform.os}/${pulled.descriptor.platform.architecture}${pulled.descriptor.platform.variant ? `/${pulled.descriptor.platform.variant}` : ''}` } : {}),
      pulledAt: Date.now(),
      // Verified by the client and by the import: a --cache-to carries them (registry-base-record.ts).
      manifest: blob(pulled.manifestDigest),
      config: blob(pulled.manifest.config.digest),
    };
    recordPulled(store, image!, record);
    return { image: image!, manifestDigest: pulled.manifestDigest, name };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
