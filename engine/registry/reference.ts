/**
 * Image references as docker normalizes them (distribution/reference ParseNormalizedNamed):
 * `debian` → `docker.io/library/debian:latest`, `user/app` → `docker.io/user/app:latest`,
 * `localhost:5000/x`, `127.0.0.1:5000/a/b:t`, `name@sha256:…` pins. A first path component is
 * a registry when it holds a `.` or a `:`, is `localhost`, or has upper case; otherwise the
 * registry is Docker Hub. Pure: no I/O.
 */
import { RegistryError } from './registry-error.js';

export interface ImageReference {
  /** `docker.io`, `localhost:5000`, `registry.example`, `[::1]:5000`. */
  registry: string;
  /** `library/debian`, `team/app`. */
  repository: string;
  /** Set unless the reference is a digest pin without a tag; `latest` by default. */
  tag?: string;
  /** `sha256:<64 hex>`: the manifest (or index) the reference pins. */
  digest?: string;
}

// The grammar of distribution/reference regexp.go.
const alnum = '[a-z0-9]+';
const separator = '(?:[._]|__|-+)';
const pathComponent = `${alnum}(?:${separator}${alnum})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const host = `(?:${domainComponent}(?:\\.${domainComponent})*|\\[[a-fA-F0-9:]+\\])`;
const DOMAIN = new RegExp(`^${host}(?::[0-9]+)?$`);
const PATH = new RegExp(`^${pathComponent}(?:/${pathComponent})*$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const SHA256 = /^sha256:[a-f0-9]{64}$/;
/** distribution/reference NameTotalLengthMax. */
const NAME_MAX = 255;

export const DOCKER_HUB = 'docker.io';
/** The host that serves Docker Hub's API (docker.io itself only redirects). */
export const DOCKER_HUB_API = 'registry-1.docker.io';

function bad(input: string, why: string): RegistryError {
  return new RegistryError('BAD_REFERENCE', `invalid image reference ${JSON.stringify(input)}: ${why}`);
}

/** Parse and normalize a reference; throws RegistryError('BAD_REFERENCE') with the reason. */
export function parseReference(input: string): ImageReference {
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!SHA256.test(digest)) throw bad(input, /^[A-Za-z][A-Za-z0-9]*:/.test(digest) && !digest.startsWith('sha256:') ? 'only sha256 digests are supported' : 'a digest is sha256: and 64 lower-case hex digits');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(input, `${JSON.stringify(tag)} is not a valid tag (letters, digits, _ . -, at most 128, not starting with . or -)`);
  }
  if (rest === '') throw bad(input, 'the repository name is empty');
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  let registry: string;
  let repository: string;
  if (slash < 0 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    registry = DOCKER_HUB;
    repository = rest;
  } else {
    registry = first;
    repository = rest.slice(slash + 1);
    if (!DOMAIN.test(registry)) throw bad(input, `${JSON.stringify(registry)} is not a valid registry host[:port]`);
  }
  if (registry === 'index.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (repository !== repository.toLowerCase()) throw bad(input, 'repository names must be lower-case');
  if (!PATH.test(repository)) throw bad(input, `${JSON.stringify(repository)} is not a valid repository path (lower-case letters, digits and . _ - separators)`);
  if (registry.length + 1 + repository.length > NAME_MAX) throw bad(input, `the name is longer than ${NAME_MAX} characters`);
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** The fully qualified form: `docker.io/library/debian:latest`, `localhost:5000/x@sha256:…`. */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The short form docker prints: `debian:latest`, `user/app:1`, `localhost:5000/x:t`. */
export function familiarReference(ref: ImageReference): string {
  const full = formatReference(ref);
  if (ref.registry !== DOCKER_HUB) return full;
  const repo = ref.repository.startsWith('library/') && ref.repository.split('/').length === 2 ? ref.repository.slice('library/'.length) : ref.repository;
  return full.replace(`${DOCKER_HUB}/${ref.repository}`, repo);
}

/** What the manifest request names: the digest when pinned (a pin wins over a tag), else the tag. */
export function manifestTarget(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

/** The host[:port] whose /v2/ API serves `registry`. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/** Loopback hosts (localhost, 127.0.0.0/8, [::1]), reached over http:// as docker does. */
export function isLoopback(hostPort: string): boolean {
  const h = hostPort.startsWith('[') ? hostPort.slice(0, hostPort.indexOf(']') + 1) : hostPort.replace(/:\d+$/, '');
  return h === 'localhost' || h === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
