/**
 * `--push`, `-o type=registry,name=…` and `stratum push NAME`: an image of the store to a
 * registry. The image is exported as an OCI layout (engine/oci/export.ts: reproducible, and
 * an imported base layer ships its original blob under its original digest) into a temporary
 * directory, then pushed by the client (engine/registry/layout-transfer.ts), which asks the
 * registry first (one HEAD per blob) and uploads only the blobs it lacks. A layer whose blob
 * digest is known (an origin, or an earlier export's tar info) and that the registry has is
 * not even compressed or written.
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
    const { exportImage, knownLayerBlobs } = await import('./oci/export.js');
    // Layers whose blob digest is known without compressing them are asked about first (one
    // HEAD each, at once): a blob the registry has is neither compressed, written nor hashed.
    const known = knownLayerBlobs(store, image);
    const heads = await Promise.all(known.map(async (hex) => ((await client.headBlob(ref, `sha256:${hex}`)) ? hex : undefined)));
    const there = new Set(heads.filter((h): h is string => h !== undefined));
    await exportImage(store, { ...image, name: refText }, { type: 'oci', dest: join(dir, 'layout'), tar: false }, { skipBlob: (hex) => there.has(hex) });
    const r = await pushLayout(client, join(dir, 'layout'), ref, { present: new Set([...there].map((h) => `sha256:${h}`)) });
    return { name: refText, digest: r.manifestDigest, uploaded: r.blobs.filter((b) => b.how === 'uploaded').length, existed: r.blobs.filter((b) => b.how !== 'uploaded').length };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
