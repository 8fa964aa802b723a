/**
 * Between a registry and an OCI image layout directory, the format stratum already imports
 * (`loadArchive`, `FROM oci-layout://`) and exports (`-o type=oci,tar=false`): the bridge for
 * `FROM registry-image` and `--push` until the engine talks to the client directly.
 *
 * Pull: manifest, config and layers into `dir/blobs/sha256/`, each verified by fetchBlob
 * before it gets its name (a blob already there is re-hashed, not trusted), then index.json
 * naming the manifest by tag — written last, so a layout with an index.json is complete.
 * Push: every blob of the layout's manifest (by file, streamed), then the manifest.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IMAGE_NAME, MEDIA, REF_NAME, type Descriptor, type OciIndex, type OciManifest, type Platform } from '../oci/oci-types.js';
import type { PutBlobResult } from './blob-upload.js';
import type { RegistryClient } from './client.js';
import { isIndexType } from './media-types.js';
import { formatReference, type ImageReference } from './reference.js';
import { describe, RegistryError } from './registry-error.js';

async function sha256File(path: string): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of createReadStream(path)) {
    h.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

const blobPath = (dir: string, digest: string) => join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));

function writeAtomic(path: string, data: Buffer): void {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
}

export interface PulledLayout {
  manifest: OciManifest;
  manifestDigest: string;
  /** The index.json entry written. */
  descriptor: Descriptor;
}

/**
 * Pull `ref` (for `platform`, the host's by default) into the OCI layout at `dir`, as tag
 * `ref.tag` (or `latest` for a digest pin). Other tags of the layout are kept.
 */
export async function pullToLayout(client: RegistryClient, ref: ImageReference, dir: string, opts: { platform?: Platform } = {}): Promise<PulledLayout> {
  const m = await client.getManifest(ref, opts);
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const d of [m.manifest.config, ...m.manifest.layers]) {
    const path = blobPath(dir, d.digest);
    if (existsSync(path) && statSync(path).size === d.size) {
      const found = await sha256File(path);
      if (found.digest === d.digest) continue;
    }
    await client.fetchBlob(ref, d.digest, d.size, path);
  }
  writeAtomic(blobPath(dir, m.digest), m.bytes);
  const config = JSON.parse(readFileSync(blobPath(dir, m.manifest.config.digest), 'utf8')) as Partial<Platform>;
  const tag = ref.tag ?? 'latest';
  const descriptor: Descriptor = {
    mediaType: m.mediaType,
    digest: m.digest,
    size: m.bytes.length,
    annotations: { [IMAGE_NAME]: formatReference(ref), [REF_NAME]: tag },
    ...(config.os && config.architecture ? { platform: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) } } : {}),
  };
  const indexPath = join(dir, 'index.json');
  let kept: Descriptor[] = [];
  if (existsSync(indexPath)) {
    const old = JSON.parse(readFileSync(indexPath, 'utf8')) as OciIndex;
    kept = (old.manifests ?? []).filter((d) => d.annotations?.[REF_NAME] !== tag);
  }
  writeAtomic(join(dir, 'oci-layout'), Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
  writeAtomic(indexPath, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests: [...kept, descriptor] })));
  return { manifest: m.manifest, manifestDigest: m.digest, descriptor };
}

export interface PushedLayout {
  manifestDigest: string;
  blobs: PutBlobResult[];
}

/** A layout blob, checked against its descriptor before it is pushed. */
async function layoutBlob(dir: string, d: Descriptor, where: string): Promise<string> {
  const path = blobPath(dir, d.digest);
  if (!/^sha256:[a-f0-9]{64}$/.test(d.digest) || !existsSync(path)) throw new RegistryError('NOT_FOUND', `${where}: the layout at ${dir} has no blob ${d.digest}`, {});
  const found = await sha256File(path);
  if (found.digest !== d.digest || found.size !== d.size) throw new RegistryError('DIGEST_MISMATCH', `${where}: blob ${d.digest} of the layout at ${dir} has sha256 ${found.digest} and ${found.size} bytes`, {});
  return path;
}

/**
 * Push the image of the layout at `dir` tagged `tag` (the layout's only image when omitted)
 * to `ref`. `mountFrom` names a repository of the same registry to mount shared blobs from.
 */
export async function pushLayout(client: RegistryClient, dir: string, ref: ImageReference, opts: { tag?: string; mountFrom?: string; present?: ReadonlySet<string> } = {}): Promise<PushedLayout> {
  const where = describe({ registry: ref.registry, repository: ref.repository });
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as OciIndex;
  const entries = index.manifests ?? [];
  const entry = opts.tag !== undefined ? entries.find((d) => d.annotations?.[REF_NAME] === opts.tag) : entries.length === 1 ? entries[0] : undefined;
  if (!entry) throw new RegistryError('NOT_FOUND', `${where}: the layout at ${dir} has ${opts.tag !== undefined ? `no image tagged ${opts.tag}` : `${entries.length} images; name one by tag`}`, {});
  if (isIndexType(entry.mediaType)) throw new RegistryError('UNSUPPORTED', `${where}: pushing a multi-platform index from a layout is not supported yet`, {});
  const manifestBytes = readFileSync(await layoutBlob(dir, entry, where));
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as OciManifest;
  const blobs: PutBlobResult[] = [];
  for (const d of [manifest.config, ...manifest.layers]) {
    // The caller has asked the registry already (one HEAD per blob): its bytes need not be here.
    if (opts.present?.has(d.digest)) {
      blobs.push({ digest: d.digest, size: d.size, how: 'existed' });
      continue;
    }
    const file = await layoutBlob(dir, d, where);
    blobs.push(await client.putBlob(ref, { file }, d.digest, d.size, opts.mountFrom ? { mountFrom: opts.mountFrom } : {}));
  }
  const manifestDigest = await client.putManifest(ref, entry.mediaType || manifest.mediaType || MEDIA.manifest, manifestBytes);
  return { manifestDigest, blobs };
}
