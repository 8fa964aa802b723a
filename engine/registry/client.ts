/**
 * `createRegistryClient(opts)`: the distribution client as functions bound to one transport
 * (one token cache, one credential lookup per registry). No global state.
 *
 *   const reg = createRegistryClient();
 *   const ref = parseReference('debian:bookworm');
 *   const m = await reg.getManifest(ref);                    // host platform chosen
 *   for (const l of m.manifest.layers) await reg.fetchBlob(ref, l.digest, l.size, file);
 */
import type { Platform } from '../oci/oci-types.js';
import { fetchBlob, headBlob, type FetchedBlob } from './blob-fetch.js';
import { putBlob, type BlobSource, type PutBlobOptions, type PutBlobResult } from './blob-upload.js';
import { lookupCredentials, type CredentialOptions, type Credentials } from './docker-config.js';
import { getManifest, putManifest, type FetchedManifest } from './manifest.js';
import { describe, RegistryError } from './registry-error.js';
import { type ImageReference } from './reference.js';
import { Transport, type CredentialSource, type FetchLike, type TransportOptions } from './transport.js';

export interface RegistryClientOptions extends Omit<TransportOptions, 'credentials' | 'fetch'> {
  /**
   * Credentials: a fixed pair for every registry, a function per registry, `false` for
   * anonymous only, or (by default) docker's config file (`dockerConfig` says which).
   */
  auth?: Credentials | CredentialSource | false;
  dockerConfig?: CredentialOptions;
  fetch?: FetchLike;
}

/** A repository on a registry: what blob calls take (a reference works too). */
export type RepositoryName = Pick<ImageReference, 'registry' | 'repository'>;

export interface PingResult {
  /** The scheme the registry asked for (`bearer`, `basic`), or undefined when open. */
  auth?: string;
  /** Whether the request with the client's credentials was let in. */
  authorized: boolean;
}

export interface RegistryClient {
  /** GET /v2/: is this a registry, and do the credentials get in. */
  ping(registry: string): Promise<PingResult>;
  getManifest(ref: ImageReference, opts?: { platform?: Platform }): Promise<FetchedManifest>;
  headBlob(repo: RepositoryName, digest: string): Promise<{ size: number } | undefined>;
  /** Download and verify into `destFile` (atomically: only verified bytes ever appear there). */
  fetchBlob(repo: RepositoryName, digest: string, size: number | undefined, destFile: string): Promise<FetchedBlob>;
  putBlob(repo: RepositoryName, source: BlobSource, digest: string, size: number, opts?: PutBlobOptions): Promise<PutBlobResult>;
  /** PUT under the reference's tag (or digest); returns the manifest's digest. */
  putManifest(ref: ImageReference, mediaType: string, bytes: Uint8Array): Promise<string>;
}

function credentialSource(opts: RegistryClientOptions): CredentialSource | undefined {
  const { auth } = opts;
  if (auth === false) return undefined;
  if (auth === undefined) return (registry) => lookupCredentials(registry, opts.dockerConfig);
  if (typeof auth === 'function') return auth;
  return () => auth;
}

export function createRegistryClient(opts: RegistryClientOptions = {}): RegistryClient {
  const credentials = credentialSource(opts);
  const t = new Transport({ ...opts, ...(credentials ? { credentials } : {}), ...(opts.fetch ? { fetch: opts.fetch } : {}) });
  return {
    async ping(registry) {
      const facts = { registry };
      const res = await t.request({ method: 'GET', registry, path: '/v2/', scopes: [], facts });
      await res.body?.cancel();
      const header = res.headers.get('www-authenticate');
      const scheme = t.authScheme(registry) ?? (header ? /^\s*(\w+)/.exec(header)?.[1]?.toLowerCase() : undefined);
      if (res.status === 200) return { authorized: true, ...(scheme ? { auth: scheme } : {}) };
      if (res.status === 401) return { authorized: false, ...(scheme ? { auth: scheme } : {}) };
      if (res.status === 403) throw new RegistryError('DENIED', `${describe(facts)}: GET /v2/ was refused (HTTP 403)`, { ...facts, status: 403 });
      throw new RegistryError('PROTOCOL', `${describe(facts)}: GET /v2/ answered HTTP ${res.status}; this is not an OCI distribution registry`, { ...facts, status: res.status });
    },
    getManifest: (ref, o) => getManifest(t, ref, o),
    headBlob: (repo, digest) => headBlob(t, repo.registry, repo.repository, digest),
    fetchBlob: (repo, digest, size, dest) => fetchBlob(t, repo.registry, repo.repository, digest, size, dest),
    putBlob: (repo, src, digest, size, o) => putBlob(t, repo.registry, repo.repository, src, digest, size, o),
    putManifest: (ref, mediaType, bytes) => putManifest(t, ref, mediaType, bytes),
  };
}
