/**
 * Platforms as OCI names them (`linux/amd64`, `linux/arm64/v8`), and BuildKit's automatic
 * platform ARGs. Pure, except `hostPlatform()`, which reads `process.platform`/`process.arch`.
 */

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** Node's process.arch → OCI architecture (and variant where Docker sets one by default). */
const ARCH: Record<string, Platform['architecture']> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  mips: 'mips',
  mipsel: 'mipsle',
  loong64: 'loong64',
};

export function hostPlatform(): Platform {
  const architecture = ARCH[process.arch] ?? process.arch;
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  return { os, architecture, ...(architecture === 'arm' ? { variant: 'v7' } : {}) };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, ...(p.variant ? [p.variant] : [])].join('/');
}

/** Parse `os/arch[/variant]` (or `arch` alone, on the host's os). Undefined when malformed. */
export function parsePlatform(text: string, host: Platform = hostPlatform()): Platform | undefined {
  const parts = text.trim().toLowerCase().split('/');
  if (parts.some((p) => !/^[a-z0-9._-]+$/.test(p))) return undefined;
  if (parts.length === 1) return { os: host.os, architecture: normalizeArch(parts[0]!) };
  if (parts.length === 2 || parts.length === 3) {
    const architecture = normalizeArch(parts[1]!);
    const variant = parts[2] ?? (architecture === 'arm64' ? undefined : undefined);
    return { os: parts[0]!, architecture, ...(variant && !(architecture === 'arm64' && variant === 'v8') ? { variant } : {}) };
  }
  return undefined;
}

function normalizeArch(a: string): string {
  if (a === 'x86_64' || a === 'x86-64') return 'amd64';
  if (a === 'aarch64') return 'arm64';
  return a;
}

/** BuildKit's automatic ARGs: defined in the global scope (usable in FROM), and inside a
 *  stage once it declares them with `ARG NAME` (no value). */
export function platformArgs(target: Platform, build: Platform): Record<string, string> {
  return {
    TARGETPLATFORM: formatPlatform(target),
    TARGETOS: target.os,
    TARGETARCH: target.architecture,
    TARGETVARIANT: target.variant ?? '',
    BUILDPLATFORM: formatPlatform(build),
    BUILDOS: build.os,
    BUILDARCH: build.architecture,
    BUILDVARIANT: build.variant ?? '',
  };
}
