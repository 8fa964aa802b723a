/**
 * Failures talking to a registry, as values the CLI can print: a reason, a message that names
 * the registry, the repository and the digest (when there is one), and a hint. They are
 * UserErrors with exit code 3 (I/O), except a malformed reference, which is bad usage (2).
 */
import { EXIT, UserError } from '../errors.js';

export type RegistryErrorReason =
  /** No connection: DNS, refused, reset before a response, TLS. */
  | 'UNREACHABLE'
  /** 429 or 5xx, still so after the bounded retries. */
  | 'UNAVAILABLE'
  /** 401: no or wrong credentials. */
  | 'UNAUTHORIZED'
  /** 403: the credentials do not grant this. */
  | 'DENIED'
  | 'NOT_FOUND'
  /** Bytes whose sha256 or size is not the one that names them. */
  | 'DIGEST_MISMATCH'
  /** A body that kept ending early after the bounded resumes. */
  | 'TRUNCATED'
  /** A response that breaks the distribution spec (bad JSON, missing Location, …). */
  | 'PROTOCOL'
  /** A media type or schema stratum does not read (schema 1, unknown layer compression). */
  | 'UNSUPPORTED'
  | 'BAD_REFERENCE';

export interface RegistryErrorFacts {
  registry?: string;
  repository?: string;
  digest?: string;
  /** HTTP status of the last response, when there was one. */
  status?: number;
}

const HINTS: Record<RegistryErrorReason, string> = {
  UNREACHABLE: 'check the registry name and the network; for a registry without TLS pass insecure (loopback registries use http:// already)',
  UNAVAILABLE: 'the registry is overloaded or failing; try again later',
  UNAUTHORIZED: 'log in first (`docker login REGISTRY`, or stratum\'s login), or check the credentials in ~/.docker/config.json',
  DENIED: 'the credentials are valid but lack access to this repository (push rights, or a private repository)',
  NOT_FOUND: 'check the repository name, the tag and the digest',
  DIGEST_MISMATCH: 'the registry or something on the way served other bytes than the digest names; nothing was stored',
  TRUNCATED: 'the connection kept dropping; try again',
  PROTOCOL: 'the server does not speak the OCI distribution API as expected',
  UNSUPPORTED: 'push the image again with a current tool (OCI or Docker schema 2 manifests, gzip or zstd layers)',
  BAD_REFERENCE: 'use [registry/]repository[:tag][@sha256:digest], e.g. debian:bookworm or localhost:5000/team/app:1.0',
};

export class RegistryError extends UserError {
  constructor(
    readonly reason: RegistryErrorReason,
    message: string,
    readonly facts: RegistryErrorFacts = {},
    hint: string = HINTS[reason],
  ) {
    super(`REGISTRY_${reason}`, message, hint, reason === 'BAD_REFERENCE' ? EXIT.usage : EXIT.io);
    this.name = 'RegistryError';
  }
}

/** `127.0.0.1:5000/team/app@sha256:…`: what an error message says it is about. */
export function describe(facts: RegistryErrorFacts): string {
  let s = facts.registry ?? '';
  if (facts.repository) s += `${s ? '/' : ''}${facts.repository}`;
  if (facts.digest) s += `@${facts.digest}`;
  return s || 'registry';
}
