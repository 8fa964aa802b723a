/**
 * Image names across the boundary: stratum stores short docker names (`webapp:dev`); OCI
 * layouts carry the tag alone in `org.opencontainers.image.ref.name` and the fully qualified
 * name in `io.containerd.image.name` (`docker.io/library/webapp:dev`), as BuildKit writes them.
 * Also the export timestamp, which every exported date uses.
 */
import { sourceDateEpoch } from '../env.js';

/** Split `repo[:tag][@digest]` (the tag is after the last ':' that follows the last '/'). */
export function splitRef(name: string): { repo: string; tag?: string; digest?: string } {
  let rest = name;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const colon = rest.lastIndexOf(':');
  const tag = colon > rest.lastIndexOf('/') ? rest.slice(colon + 1) : undefined;
  const repo = tag !== undefined ? rest.slice(0, colon) : rest;
  return { repo, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** `webapp:dev` → `docker.io/library/webapp:dev`, as docker qualifies a name. */
export function qualifiedName(name: string): string {
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  const hasDomain = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasDomain) return name;
  return slash < 0 ? `docker.io/library/${name}` : `docker.io/${name}`;
}

/** The inverse of qualifiedName: `docker.io/library/x:1` → `x:1`, `docker.io/a/b` → `a/b`. */
export function familiarName(name: string): string {
  if (name.startsWith('docker.io/library/') && !name.slice('docker.io/library/'.length).includes('/')) return name.slice('docker.io/library/'.length);
  if (name.startsWith('docker.io/')) return name.slice('docker.io/'.length);
  return name;
}

/**
 * Seconds since the epoch that every exported timestamp uses (tar mtimes, config and history
 * `created`): `SOURCE_DATE_EPOCH` when set (reproducible-builds.org), else 0. Fixed, never
 * "now": the same build must give the same bytes, as ko and jib do by default.
 */
export function exportEpoch(env: NodeJS.ProcessEnv = process.env): number {
  return sourceDateEpoch(env) ?? 0;
}

/** RFC 3339 in UTC without fractional seconds, as Go's time.Time marshals a whole second. */
export function rfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
