/**
 * Opening what an import reads from: an OCI layout or docker-archive, as a directory or as
 * one tar file (optionally gzipped). Both look the same to the importer (archive-dir.ts).
 *
 * A tar is unpacked into a folder inside the store (never anywhere else) with every name
 * checked: no absolute names, no `..`, no duplicates, only files and directories on disk.
 * Symlinks and hardlinks inside the archive (old `docker save` links a repeated layer to its
 * first copy) become aliases to another entry of the archive, resolved by name; one that
 * leaves the archive is refused.
 */
import { createReadStream, createWriteStream, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Store } from '../../cache/store-types.js';
import { readTar } from './tar-stream-util.js';
import { ImportError } from './import-error.js';
import { cleanMemberName, compressionOf, DirSource, type ArchiveSource } from './archive-dir.js';

/** Open a directory or a (gzipped) tar file. */
export async function openArchive(store: Store, path: string): Promise<ArchiveSource> {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new ImportError('NOT_FOUND', `${path} does not exist`, 'pass an OCI layout directory, an OCI archive (.tar) or a docker-archive (.tar)');
  }
  if (st.isDirectory()) return new DirSource(path, path);
  // Owned (locked) while we use it: prune removes only staging whose owner is gone.
  const owned = store.importDir();
  const staging = owned.path;
  const cleanup = () => owned.remove();
  try {
    const aliases = await unpackTar(path, staging);
    return new DirSource(path, staging, aliases, cleanup);
  } catch (err) {
    cleanup();
    throw err;
  }
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
