/**
 * What an import reads from: an OCI layout or docker-archive, as a directory or as one tar
 * file (optionally gzipped). Both look the same to the importer: files by archive-relative
 * name.
 *
 * A tar is unpacked into a folder inside the store (never anywhere else) with every name
 * checked: no absolute names, no `..`, no duplicates, only files and directories on disk.
 * Symlinks and hardlinks inside the archive (old `docker save` links a repeated layer to its
 * first copy) become aliases to another entry of the archive, resolved by name; one that
 * leaves the archive is refused.
 *
 * Names the importer asks for come from the archive's own JSON (manifest.json's paths, or
 * digests), so they pass the same check before they touch the filesystem.
 */
import { createReadStream, createWriteStream, existsSync, mkdirSync, openSync, readSync, closeSync, readFileSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Store } from '../../cache/store-types.js';
import { readTar } from './tar-stream-util.js';
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

/** Why an archive member name is unsafe, or undefined when it is fine. Returns the
 *  normalized name through `out`. */
export function cleanMemberName(raw: string): { name: string } | { reason: string } {
  if (raw.includes('\0')) return { reason: 'a NUL byte in the name' };
  if (raw.startsWith('/')) return { reason: 'an absolute path' };
  const segs = raw.split('/').filter((s) => s !== '' && s !== '.');
  if (segs.includes('..')) return { reason: 'a ".." path segment' };
  return { name: segs.join('/') };
}

const MAX_JSON = 64 << 20;

class DirSource implements ArchiveSource {
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

/** Open a directory or a (gzipped) tar file. */
export async function openArchive(store: Store, path: string): Promise<ArchiveSource> {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new ImportError('NOT_FOUND', `${path} does not exist`, 'pass an OCI layout directory, an OCI archive (.tar) or a docker-archive (.tar)');
  }
  if (st.isDirectory()) return new DirSource(path, path);
  const staging = store.dir('import', `${process.pid}-${randomBytes(8).toString('hex')}`);
  const cleanup = () => rmSync(staging, { recursive: true, force: true });
  try {
    const aliases = await unpackTar(path, staging);
    return new DirSource(path, staging, aliases, cleanup);
  } catch (err) {
    cleanup();
    throw err;
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

/** Unpack an archive tar into `dir` (inside the store), checking every name. */
async function unpackTar(path: string, dir: string): Promise<Map<string, string>> {
  const kind = compressionOf(path);
  if (kind === 'zstd') throw new ImportError('UNSUPPORTED', `${path} is zstd-compressed`, 'decompress it first (zstd -d), or export it as a plain or gzipped tar');
  const seen = new Set<string>();
  const aliases = new Map<string, string>();
  const refuse = (name: string, why: string) => new ImportError('UNSAFE_ARCHIVE', `${path}: refusing entry "${name}": ${why}`, 'the archive is damaged or was made to write outside its folder; no image was stored');
  const source = kind === 'gzip' ? createReadStream(path).pipe(createGunzip()) : createReadStream(path);
  try {
    await readTar(source, async ({ header, body }) => {
      const c = cleanMemberName(header.name);
      if ('reason' in c) throw refuse(header.name, c.reason);
      const name = c.name;
      if (name === '') return; // the archive's own root, `./`
      if (seen.has(name)) throw refuse(header.name, 'it appears twice in the archive');
      seen.add(name);
      const abs = join(dir, name);
      switch (header.type) {
        case 'directory':
          mkdirOrRefuse(abs, () => refuse(header.name, 'it conflicts with a file of the same name'));
          return;
        case 'file':
        case 'contiguous-file': {
          mkdirOrRefuse(join(abs, '..'), () => refuse(header.name, 'its parent is a file'));
          if (existsSync(abs)) throw refuse(header.name, 'it conflicts with a directory of the same name');
          await pipeline(body, createWriteStream(abs, { flags: 'wx' }));
          return;
        }
        case 'symlink':
        case 'link': {
          const target = header.linkname ?? '';
          // A symlink is relative to its own folder; a hardlink names another member.
          const resolved = header.type === 'symlink' && !target.startsWith('/') ? posix.join(posix.dirname(name), target) : target;
          const t = cleanMemberName(resolved);
          if ('reason' in t || t.name === '' || resolved.startsWith('..')) throw refuse(header.name, `it links to "${target}", outside the archive`);
          aliases.set(name, t.name);
          return;
        }
        default:
          throw refuse(header.name, `entries of type ${header.type} do not belong in an image archive`);
      }
    });
  } catch (err) {
    if (err instanceof ImportError) throw err;
    throw new ImportError('BAD_ARCHIVE', `${path} is not a readable tar archive: ${(err as Error).message}`, 'pass an OCI layout directory, an OCI archive (.tar) or a docker-archive (.tar)');
  }
  return aliases;
}

function mkdirOrRefuse(abs: string, refuse: () => Error): void {
  try {
    mkdirSync(abs, { recursive: true });
  } catch {
    throw refuse();
  }
}
