/**
 * `--push`, `-o type=registry,name=…` and `stratum push NAME`: an image of the store to a
 * registry. The image is exported as an OCI layout (engine/oci/export.ts: reproducible, and
 * an imported base layer ships its original blob under its original digest) into a temporary
 * directory, then pushed by the client (engine/registry/layout-transfer.ts), which asks the
 * registry first (one HEAD per blob) and uploads only the blobs it lacks.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageRecord, Store } from '../cache/store-types.js';
import { createRegistryClient } from './registry/client.js';
import { pushLayout } from './registry/layout-transfer.js';
import { parseReference } from './registry/reference.js';

export interface PushResult {
  name: string;
  digest: string;
  /** Blobs sent, and blobs the registry already had (or mounted). */
  uploaded: number;
  existed: number;
}

export async function pushImage(store: Store, image: ImageRecord, refText: string, opts: { insecure?: string[] } = {}): Promise<PushResult> {
  const ref = parseReference(refText);
  const client = createRegistryClient(opts.insecure?.length ? { insecure: opts.insecure } : {});
  const dir = mkdtempSync(join(tmpdir(), 'stratum-push-'));
  try {
    const { exportImage } = await import('./oci/export.js');
    await exportImage(store, { ...image, name: refText }, { type: 'oci', dest: join(dir, 'layout'), tar: false });
    const r = await pushLayout(client, join(dir, 'layout'), ref);
    return { name: refText, digest: r.manifestDigest, uploaded: r.blobs.filter((b) => b.how === 'uploaded').length, existed: r.blobs.filter((b) => b.how !== 'uploaded').length };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
