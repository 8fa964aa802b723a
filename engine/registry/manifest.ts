/**
 * Manifests and image indexes over the distribution API. A GET accepts OCI and Docker
 * schema 2 types; the bytes are hashed (sha256) and checked against the pinned digest, the
 * `Docker-Content-Digest` header and, for a child of an index, the index's descriptor (digest
 * and size). An index resolves to the manifest for the platform asked for (the host's by
 * default). Schema 1 is refused.
 */
import { createHash } from 'node:crypto';
import type { Descriptor, OciIndex, OciManifest, Platform } from '../oci/oci-types.js';
import { ACCEPT_MANIFESTS, DOCKER_SCHEMA1, isIndexType, isManifestType } from './media-types.js';
import { choosePlatform } from './platform.js';
import { formatReference, manifestTarget, type ImageReference } from './reference.js';
import { describe, RegistryError, type RegistryErrorFacts } from './registry-error.js';
import type { HttpResponse } from './http.js';
import { repoScope, statusError, type Transport } from './transport.js';

/** distribution refuses manifests over 4 MiB; so does stratum, before reading more. */
export const MANIFEST_MAX = 4 << 20;

export interface FetchedManifest {
  mediaType: string;
  /** `sha256:…` of `bytes`. */
  digest: string;
  bytes: Buffer;
  manifest: OciManifest;
  /** The index the manifest was chosen from, when the reference named one. */
  index?: { mediaType: string; digest: string; bytes: Buffer; index: OciIndex };
}

interface Raw {
  mediaType: string;
  digest: string;
  bytes: Buffer;
  json: Record<string, unknown>;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function readLimited(res: HttpResponse, facts: RegistryErrorFacts): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of res.body ?? []) {
    n += (c as Uint8Array).length;
    if (n > MANIFEST_MAX) {
      await res.body?.cancel().catch(() => {});
      throw new RegistryError('PROTOCOL', `${describe(facts)}: the manifest is larger than ${MANIFEST_MAX} bytes`, facts);
    }
    parts.push(Buffer.from(c as Uint8Array));
  }
  return Buffer.concat(parts);
}

/** GET one manifest document by tag or digest, verified; `expect` is a descriptor that names it. */
export async function getRawManifest(t: Transport, ref: ImageReference, target: string, expect?: { digest: string; size?: number }): Promise<Raw> {
  const pinned = target.startsWith('sha256:') ? target : undefined;
  const facts: RegistryErrorFacts = { registry: ref.registry, repository: ref.repository, ...(pinned ? { digest: pinned } : {}) };
  if (target.includes(':') && !pinned) throw new RegistryError('UNSUPPORTED', `${describe(facts)}: only sha256 manifest digests can be verified (got ${target})`, facts);
  const res = await t.request({ method: 'GET', registry: ref.registry, path: `/v2/${ref.repository}/manifests/${target}`, scopes: [repoScope(ref.repository, 'pull')], headers: { accept: ACCEPT_MANIFESTS }, facts });
  if (res.status !== 200) throw await statusError(res, `fetching manifest ${target}`, facts);
  const bytes = await readLimited(res, facts);
  const digest = sha256(bytes);
  const header = res.headers.get('docker-content-digest');
  if (pinned && digest !== pinned) throw new RegistryError('DIGEST_MISMATCH', `${describe(facts)}: the registry sent a manifest whose sha256 is ${digest}`, facts);
  if (!pinned && header?.startsWith('sha256:') && header !== digest) {
    throw new RegistryError('DIGEST_MISMATCH', `${describe(facts)}: the manifest for tag ${target} hashes to ${digest}, the registry's Docker-Content-Digest says ${header}`, { ...facts, digest: header });
  }
  if (expect && (digest !== expect.digest || (expect.size !== undefined && bytes.length !== expect.size))) {
    throw new RegistryError('DIGEST_MISMATCH', `${describe(facts)}: the manifest has sha256 ${digest} and ${bytes.length} bytes, the index names ${expect.digest} and ${expect.size ?? '?'} bytes`, facts);
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    if (!json || typeof json !== 'object' || Array.isArray(json)) throw new Error('not an object');
  } catch (err) {
    throw new RegistryError('PROTOCOL', `${describe({ ...facts, digest })}: the manifest is not JSON: ${(err as Error).message}`, { ...facts, digest });
  }
  const contentType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const mediaType = typeof json.mediaType === 'string' ? json.mediaType : contentType;
  if (DOCKER_SCHEMA1.includes(mediaType) || json.schemaVersion === 1) {
    throw new RegistryError('UNSUPPORTED', `${describe({ ...facts, digest })}: Docker schema 1 manifests are not supported`, { ...facts, digest });
  }
  return { mediaType, digest, bytes, json };
}

function checkManifest(raw: Raw, facts: RegistryErrorFacts): OciManifest {
  const m = raw.json as unknown as OciManifest;
  const okDesc = (d: unknown) => !!d && typeof (d as Descriptor).digest === 'string' && typeof (d as Descriptor).size === 'number' && typeof (d as Descriptor).mediaType === 'string';
  if (m.schemaVersion !== 2 || !okDesc(m.config) || !Array.isArray(m.layers) || !m.layers.every(okDesc)) {
    throw new RegistryError('PROTOCOL', `${describe(facts)}: the manifest lacks a schema 2 config or layers`, facts);
  }
  return m;
}

/**
 * The image manifest a reference names: fetched, verified, and chosen from an index for
 * `platform` (the host's by default) when the reference names an index.
 */
export async function getManifest(t: Transport, ref: ImageReference, opts: { platform?: Platform } = {}): Promise<FetchedManifest> {
  const top = await getRawManifest(t, ref, manifestTarget(ref));
  const facts = { registry: ref.registry, repository: ref.repository, digest: top.digest };
  const isIndex = isIndexType(top.mediaType) || (!top.mediaType && Array.isArray(top.json.manifests));
  if (isIndex) {
    const index = top.json as unknown as OciIndex;
    if (!Array.isArray(index.manifests)) throw new RegistryError('PROTOCOL', `${describe(facts)}: the index lists no manifests`, facts);
    const chosen = choosePlatform(index.manifests, opts.platform, formatReference(ref));
    const child = await getRawManifest(t, ref, chosen.digest, { digest: chosen.digest, size: chosen.size });
    if (!isManifestType(child.mediaType) && child.mediaType !== '') {
      throw new RegistryError('UNSUPPORTED', `${describe({ ...facts, digest: child.digest })}: the index entry is a ${child.mediaType}, not an image manifest`, facts);
    }
    return {
      mediaType: child.mediaType || chosen.mediaType,
      digest: child.digest,
      bytes: child.bytes,
      manifest: checkManifest(child, { ...facts, digest: child.digest }),
      index: { mediaType: top.mediaType, digest: top.digest, bytes: top.bytes, index },
    };
  }
  if (top.mediaType && !isManifestType(top.mediaType)) throw new RegistryError('UNSUPPORTED', `${describe(facts)}: ${top.mediaType} is not an image manifest or index`, facts);
  return { mediaType: top.mediaType || 'application/vnd.oci.image.manifest.v1+json', digest: top.digest, bytes: top.bytes, manifest: checkManifest(top, facts) };
}

/** PUT a manifest (or index) under the reference's tag (or digest); returns its digest. */
export async function putManifest(t: Transport, ref: ImageReference, mediaType: string, bytes: Uint8Array): Promise<string> {
  const buf = Buffer.from(bytes);
  const digest = sha256(buf);
  const target = ref.tag ?? ref.digest ?? digest;
  if (ref.digest && ref.tag === undefined && ref.digest !== digest) throw new RegistryError('DIGEST_MISMATCH', `${describe({ registry: ref.registry, repository: ref.repository, digest: ref.digest })}: the manifest to push has sha256 ${digest}`, {});
  const facts: RegistryErrorFacts = { registry: ref.registry, repository: ref.repository, digest };
  const res = await t.request({ method: 'PUT', registry: ref.registry, path: `/v2/${ref.repository}/manifests/${target}`, scopes: [repoScope(ref.repository, 'pull,push')], headers: { 'content-type': mediaType, 'content-length': String(buf.length) }, body: () => buf, facts });
  if (res.status !== 201 && res.status !== 200) throw await statusError(res, `pushing the manifest as ${target}`, facts);
  await res.body?.cancel();
  const said = res.headers.get('docker-content-digest');
  if (said && said.startsWith('sha256:') && said !== digest) throw new RegistryError('DIGEST_MISMATCH', `${describe(facts)}: the registry stored the manifest as ${said}`, facts);
  return digest;
}
