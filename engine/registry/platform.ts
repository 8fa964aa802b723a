/**
 * Platforms (`linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`) and the choice of one manifest
 * from an image index, as containerd's platforms matcher does: same os and architecture
 * (aliases normalized), the variant equal once defaults are filled in (arm64 → v8, arm → v7,
 * amd64 → v1). Pure.
 */
import { hostPlatform, type Descriptor, type Platform } from '../oci/oci-types.js';
import { RegistryError } from './registry-error.js';

const ARCH_ALIASES: Record<string, string> = { x86_64: 'amd64', x86: '386', i386: '386', i686: '386', aarch64: 'arm64', armhf: 'arm', armel: 'arm' };
const DEFAULT_VARIANT: Record<string, string> = { arm64: 'v8', arm: 'v7', amd64: 'v1' };

/** Parse `os/arch[/variant]`; throws BAD_REFERENCE (a usage error) for anything else. */
export function parsePlatform(s: string): Platform {
  const parts = s.trim().toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_.-]+$/.test(p))) {
    throw new RegistryError('BAD_REFERENCE', `invalid platform ${JSON.stringify(s)}`, {}, 'write os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8');
  }
  const architecture = ARCH_ALIASES[parts[1]!] ?? parts[1]!;
  return { os: parts[0]!, architecture, ...(parts[2] ? { variant: parts[2] } : {}) };
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

function normalized(p: Platform): Required<Platform> {
  const architecture = ARCH_ALIASES[p.architecture] ?? p.architecture;
  return { os: p.os, architecture, variant: p.variant || DEFAULT_VARIANT[architecture] || '' };
}

/** Whether an image of platform `have` serves `want`. */
export function platformMatches(want: Platform, have: Platform): boolean {
  const w = normalized(want);
  const h = normalized(have);
  return w.os === h.os && w.architecture === h.architecture && (want.variant === undefined && !DEFAULT_VARIANT[w.architecture] ? true : w.variant === h.variant);
}

/**
 * The index entry for `want` (the host's platform by default): the first matching entry;
 * throws NOT_FOUND naming the platforms the index has.
 */
export function choosePlatform(manifests: Descriptor[], want: Platform = hostPlatform(), where = 'the image index'): Descriptor {
  const hit = manifests.find((d) => d.platform && platformMatches(want, d.platform));
  if (hit) return hit;
  const have = manifests.filter((d) => d.platform && d.platform.os !== 'unknown').map((d) => formatPlatform(d.platform!));
  throw new RegistryError('NOT_FOUND', `${where} has no image for ${formatPlatform(want)} (it has ${have.length ? have.join(', ') : 'no platform-tagged images'})`, {}, have.length ? `choose one with --platform, e.g. --platform ${have[0]}` : 'the index lists no platforms');
}
