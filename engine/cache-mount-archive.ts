/**
 * A cache mount's contents as one tar+gzip blob (`--cache-to …,cache-mounts=true`), and back.
 *
 * Pack walks the directory in sorted order and writes its directories, regular files and
 * symlinks (mode kept, owners and times not: a cache mount is a cache, and the same contents
 * give the same bytes); sockets, fifos and devices are left out. The compressed stream is
 * hashed as it is written, once.
 *
 * Unpack reads a blob that crossed a trust boundary: the caller has checked its sha256
 * against the descriptor (importing reads it only then), and every entry is still checked
 * here: relative, no `..`, no entry below a symlink, only files, directories and symlinks.
 * It extracts into a fresh directory that the caller renames into place.
 */
import { createReadStream, createWriteStream, lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync, chmodSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { extract, pack as tarPack } from 'tar-stream';

export interface PackedMount {
  digest: string;
  size: number;
  /** Regular files in it. */
  files: number;
}

/** Whether `dir` holds nothing (or does not exist). */
export function isEmptyDir(dir: string): boolean {
  try {
    return readdirSync(dir).length === 0;
  } catch {
    return true;
  }
}

/** Write `dir`'s tree as tar+gzip to `dest`; returns the blob's sha256 and size. */
export async function packDir(dir: string, dest: string): Promise<PackedMount> {
  const p = tarPack();
  let files = 0;
  const feed = async () => {
    const walk = async (rel: string): Promise<void> => {
      for (const name of readdirSync(join(dir, rel)).sort()) {
        const r = rel ? `${rel}/${name}` : name;
        const path = join(dir, r);
        const st = lstatSync(path);
        const mode = st.mode & 0o7777;
        if (st.isDirectory()) {
          p.entry({ name: `${r}/`, type: 'directory', mode, mtime: new Date(0) });
          await walk(r);
        } else if (st.isSymbolicLink()) {
          p.entry({ name: r, type: 'symlink', linkname: readlinkSync(path), mode, mtime: new Date(0) });
        } else if (st.isFile()) {
          files++;
          await new Promise<void>((resolve, reject) => {
            const entry = p.entry({ name: r, type: 'file', size: st.size, mode, mtime: new Date(0) }, (err) => (err ? reject(err) : resolve()));
            createReadStream(path).on('error', reject).pipe(entry);
          });
        }
      }
    };
    await walk('');
    p.finalize();
  };
  const hash = createHash('sha256');
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  await Promise.all([feed().catch((err: Error) => p.destroy(err)), pipeline(p, createGzip({ level: 6 }), count, createWriteStream(dest, { flags: 'wx' }))]);
  return { digest: `sha256:${hash.digest('hex')}`, size, files };
}

/** Unpack the tar+gzip `file` into the new directory `dest`; `label` names it in errors. */
export async function unpackTo(file: string, dest: string, label: string): Promise<void> {
  mkdirSync(dest);
  const links = new Set<string>();
  const ex = extract();
  ex.on('entry', (header, stream, next) => {
    const fail = (why: string) => {
      stream.on('error', () => {}); // the entry dies with the extractor; its error is ours
      ex.destroy(new Error(`${label}: ${why}`));
    };
    const name = posix.normalize(header.name).replace(/\/+$/, '');
    if (name === '.' || name === '') {
      stream.resume();
      return void stream.on('end', next);
    }
    if (posix.isAbsolute(name) || name === '..' || name.startsWith('../')) return fail(`entry ${JSON.stringify(header.name)} leaves the cache mount`);
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) if (links.has(parts.slice(0, i).join('/'))) return fail(`entry ${JSON.stringify(header.name)} is below a symlink`);
    const path = join(dest, ...parts);
    const mode = (header.mode ?? 0o644) & 0o7777;
    try {
      if (header.type === 'directory') {
        mkdirSync(path, { recursive: true });
        chmodSync(path, mode | 0o700);
      } else if (header.type === 'symlink') {
        symlinkSync(header.linkname ?? '', path);
        links.add(name);
      } else if (header.type === 'file') {
        mkdirSync(dirname(path), { recursive: true });
        const out = createWriteStream(path, { flags: 'wx', mode });
        return void pipeline(stream, out).then(() => next(), (err: Error) => fail(err.message));
      } else {
        return fail(`entry ${JSON.stringify(header.name)} has type ${header.type}, which a cache mount does not hold`);
      }
    } catch (err) {
      return fail((err as Error).message);
    }
    stream.resume();
    stream.on('end', next);
  });
  await pipeline(createReadStream(file), createGunzip(), ex);
}
