/**
 * An image archive as files by archive-relative name: the common view of an OCI layout
 * directory and of a tar unpacked into the store (archive-source.ts). Every name passes
 * cleanMemberName before it touches the filesystem, including names read from the archive's
 * own JSON (manifest.json's paths): none can leave the archive's folder. Light on purpose
 * (fs only): planning reads `oci-layout://` configs through it on every build.
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ImportError } from './import-error.js';

export interface ArchiveSource {
  /** What the user named (for messages). */
  readonly label: string;
  /** The file behind an archive name, or undefined when there is none. Throws ImportError
   *  for a name that tries to leave the archive. */
  file(name: string): string | undefined;
  /** Read a small file whole (JSON documents), refusing more than `max` bytes. */
  read(name: string, max?: number): Buffer | undefined;
  /** Remove what opening the archive unpacked. */
  close(): void;
}

/** The normalized member name (no `.` or empty segments), or why it is unsafe. */
export function cleanMemberName(raw: string): { name: string } | { reason: string } {
  if (raw.includes('\0')) return { reason: 'a NUL byte in the name' };
  if (raw.startsWith('/')) return { reason: 'an absolute path' };
  const segs = raw.split('/').filter((s) => s !== '' && s !== '.');
  if (segs.includes('..')) return { reason: 'a ".." path segment' };
  return { name: segs.join('/') };
}

const MAX_JSON = 64 << 20;

export class DirSource implements ArchiveSource {
  constructor(
    readonly label: string,
    readonly root: string,
    private readonly aliases: Map<string, string> = new Map(),
    private readonly cleanup?: () => void,
  ) {}

  file(name: string): string | undefined {
    const c = cleanMemberName(name);
    if ('reason' in c) throw new ImportError('UNSAFE_PATH', `${this.label}: refusing member "${name}": ${c.reason}`);
    let n = c.name;
    for (let hops = 0; this.aliases.has(n) && hops < 32; hops++) n = this.aliases.get(n)!;
    if (n === '') return undefined;
    const path = join(this.root, n);
    try {
      return statSync(path).isFile() ? path : undefined;
    } catch {
      return undefined;
    }
  }

  read(name: string, max = MAX_JSON): Buffer | undefined {
    const path = this.file(name);
    if (!path) return undefined;
    if (statSync(path).size > max) throw new ImportError('TOO_LARGE', `${this.label}: ${name} is larger than ${max} bytes`);
    return readFileSync(path);
  }

  close(): void {
    this.cleanup?.();
  }
}

/** A directory as an archive source, or undefined when `path` is not a directory. */
export function openDirectory(path: string): ArchiveSource | undefined {
  try {
    return statSync(path).isDirectory() ? new DirSource(path, path) : undefined;
  } catch {
    return undefined;
  }
}

/** The first bytes of a file, to tell gzip (1f 8b) and zstd (28 b5 2f fd) from a plain tar. */
export function compressionOf(path: string): 'gzip' | 'zstd' | 'none' {
  const buf = Buffer.alloc(4);
  const fd = openSync(path, 'r');
  let n: number;
  try {
    n = readSync(fd, buf, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  if (n >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) return 'gzip';
  if (n >= 4 && buf.readUInt32BE(0) === 0x28b52ffd) return 'zstd';
  return 'none';
}

