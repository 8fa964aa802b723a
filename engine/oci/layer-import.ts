/**
 * An OCI / docker layer tar → a stratum layer, verified on the way in.
 *
 * One pass over the blob: its sha256 (the descriptor digest) is computed on the compressed
 * bytes, the diffID on the tar bytes, and the entries are turned into layer entries while the
 * file contents go into the store as blobs. The layer manifest is written only after both
 * digests and the size matched; a mismatch leaves at most unreferenced blobs, which prune
 * removes.
 *
 * Mapping: regular files, directories and symlinks as they are; `d/.wh.x` → whiteout `d/x`;
 * `d/.wh..wh..opq` → `d` is opaque (keeping the mode of `d`'s own entry, 0o755 without one);
 * a hardlink → a file with its target's content (the target must be an earlier file of the
 * same layer). Owners, times and xattrs are dropped: stratum layers have none.
 *
 * Refused, naming the entry: absolute names, `..` segments, a name twice (also a whiteout
 * and an entry of one name), an entry beneath a symlink of the same layer, a hardlink to
 * anything but an earlier file of the layer, devices and fifos, and an opaque marker at the
 * image root (stratum cannot express it).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { asBlobDigest, type BlobDigest } from '../../cache/digest.js';
import { createXxh64 } from '../../cache/hash.js';
import type { Layer, LayerEntry } from '../../cache/layer-types.js';
import type { Store } from '../../cache/store-types.js';
import { compressionOf } from './archive-dir.js';
import { checkBlob } from './layout-read.js';
import { ImportError } from './import-error.js';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from './layer-tar.js';
import { readTar } from './tar-stream-util.js';

/** Files larger than this are spooled to a temp file in the store instead of memory. */
const IN_MEMORY = 8 << 20;

export interface LayerExpect {
  /** sha256 hex and size of the blob as stored in the archive (compressed or not). */
  digest?: string;
  size?: number;
  /** sha256 hex of the uncompressed tar. */
  diffId?: string;
}

export interface ImportedLayer {
  layer: Layer;
  diffId: string;
  digest: string;
  size: number;
}

async function* tap(source: AsyncIterable<Buffer>, onChunk: (b: Buffer) => void): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    onChunk(chunk);
    yield chunk;
  }
}

/** Hash a blob file without importing it (a layer the store already has). */
export async function hashFile(path: string): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: h.digest('hex'), size };
}

/** Import the layer blob at `path` into the store. `label` names it in errors. */
export async function importLayer(store: Store, path: string, label: string, expect: LayerExpect): Promise<ImportedLayer> {
  const kind = compressionOf(path);
  if (kind === 'zstd') throw new ImportError('UNSUPPORTED', `${label}: zstd-compressed layers are not supported`, 'export the image with gzip layers (the default of docker, buildah and skopeo)');
  const outer = createHash('sha256');
  let outerSize = 0;
  const inner = createHash('sha256');
  const owned = store.acquireDir('import', `${process.pid}-${randomBytes(8).toString('hex')}`)!;
  const spool = owned.path;
  const builder = new LayerBuilder(label);
  try {
    const measureOuter = (s: AsyncIterable<Buffer>) =>
      tap(s, (b) => {
        outer.update(b);
        outerSize += b.length;
      });
    const measureInner = (s: AsyncIterable<Buffer>) => tap(s, (b) => inner.update(b));
    const entries = (s: AsyncIterable<Buffer>) => readTar(s, (entry) => builder.add(store, spool, entry));
    if (kind === 'gzip') await pipeline(createReadStream(path), measureOuter, createGunzip(), measureInner, entries);
    else await pipeline(createReadStream(path), measureOuter, measureInner, entries);
  } catch (err) {
    if (err instanceof ImportError) throw err;
    // A blob that does not match its descriptor usually fails to unpack first: say that.
    checkBlob(label, await hashFile(path), expect);
    throw new ImportError('BAD_LAYER', `${label}: not a readable ${kind === 'gzip' ? 'gzipped ' : ''}tar: ${(err as Error).message}`);
  } finally {
    owned.remove();
  }
  const found = { digest: outer.digest('hex'), size: outerSize };
  checkBlob(label, found, expect);
  const diffId = inner.digest('hex');
  if (expect.diffId !== undefined && diffId !== expect.diffId) {
    throw new ImportError('DIFFID_MISMATCH', `${label}: uncompressed layer has sha256 ${diffId}, the config's rootfs.diff_ids says ${expect.diffId}`);
  }
  const layer = store.putLayer(builder.finish());
  return { layer, diffId, ...found };
}

type Header = Parameters<Parameters<typeof readTar>[1]>[0]['header'];

/** Collects a layer's entries from tar entries, refusing what must not be in a layer. */
class LayerBuilder {
  readonly #entries = new Map<string, LayerEntry>();
  readonly #opaque = new Set<string>();
  readonly #symlinks = new Set<string>();

  constructor(private readonly label: string) {}

  #refuse(name: string, why: string): ImportError {
    return new ImportError('UNSAFE_LAYER', `${this.label}: refusing entry "${name}": ${why}`, 'the layer is damaged or was made to escape the image; no image was stored');
  }

  #clean(raw: string): string {
    if (raw.includes('\0')) throw this.#refuse(raw, 'a NUL byte in the name');
    if (raw.startsWith('/')) throw this.#refuse(raw, 'an absolute path');
    const segs = raw.split('/').filter((s) => s !== '' && s !== '.');
    if (segs.includes('..')) throw this.#refuse(raw, 'a ".." path segment');
    return segs.join('/');
  }

  #put(raw: string, e: LayerEntry): void {
    if (this.#entries.has(e.path)) throw this.#refuse(raw, `"${e.path}" appears twice in the layer`);
    for (let p = e.path; p.includes('/'); ) {
      p = p.slice(0, p.lastIndexOf('/'));
      if (this.#symlinks.has(p)) throw this.#refuse(raw, `it lies beneath the symlink "${p}" of the same layer (a link pointing out)`);
    }
    this.#entries.set(e.path, e);
    if (e.type === 'symlink') this.#symlinks.add(e.path);
  }

  async add(store: Store, spool: string, { header, body }: { header: Header; body: AsyncIterable<Buffer> }): Promise<void> {
    const raw = header.name;
    const path = this.#clean(raw);
    const mode = header.mode & 0o7777;
    const slash = path.lastIndexOf('/');
    const base = path.slice(slash + 1);
    const dir = slash < 0 ? '' : path.slice(0, slash);
    if (path === '') {
      if (header.type !== 'directory') throw this.#refuse(raw, 'the image root must be a directory');
      return; // `./`: the root itself is never an entry
    }
    if (base.startsWith(WHITEOUT_PREFIX)) {
      if (base === OPAQUE_MARKER) {
        if (dir === '') throw this.#refuse(raw, 'an opaque marker at the image root is not supported');
        if (this.#opaque.has(dir)) throw this.#refuse(raw, 'it appears twice in the layer');
        this.#opaque.add(dir);
        return;
      }
      // Other `.wh..wh.` names are aufs bookkeeping (hardlink dirs): not content.
      if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return;
      const target = (dir ? `${dir}/` : '') + base.slice(WHITEOUT_PREFIX.length);
      this.#put(raw, { path: target, type: 'whiteout' });
      return;
    }
    switch (header.type) {
      case 'directory':
        this.#put(raw, { path, type: 'dir', mode });
        return;
      case 'symlink':
        this.#put(raw, { path, type: 'symlink', mode: mode || 0o777, target: header.linkname ?? '' });
        return;
      case 'link': {
        const link = header.linkname ?? '';
        if (link.startsWith('/') || link.split('/').includes('..')) throw this.#refuse(raw, `it hardlinks to "${link}", outside the layer (a link pointing out)`);
        const t = this.#entries.get(this.#clean(link));
        if (!t || t.type !== 'file') throw this.#refuse(raw, `it hardlinks to "${header.linkname}", which is not an earlier file of this layer (a link pointing out)`);
        this.#put(raw, { ...t, path });
        return;
      }
      case 'file':
      case 'contiguous-file': {
        const blob = await storeBody(store, spool, body, header.size);
        this.#put(raw, { path, type: 'file', mode, size: blob.size, digest: blob.digest });
        return;
      }
      default:
        throw this.#refuse(raw, `entries of type ${header.type} cannot be stored in a stratum layer`);
    }
  }

  finish(): LayerEntry[] {
    for (const dir of this.#opaque) {
      const e = this.#entries.get(dir);
      if (e && e.type !== 'dir') throw this.#refuse(`${dir}/${OPAQUE_MARKER}`, `"${dir}" is not a directory in this layer`);
      this.#entries.set(dir, { path: dir, type: 'opaque', mode: e?.mode ?? 0o755 });
    }
    return [...this.#entries.values()];
  }
}

/** A file entry's bytes into the store: small ones from memory, large ones through a spool file. */
async function storeBody(store: Store, spool: string, body: AsyncIterable<Buffer>, size: number): Promise<{ digest: BlobDigest; size: number }> {
  if (size <= IN_MEMORY) {
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c);
    const data = Buffer.concat(chunks);
    return store.writeBlob(data);
  }
  const tmp = join(spool, randomBytes(8).toString('hex'));
  const h = createXxh64();
  let n = 0;
  try {
    await pipeline(
      tap(body, (b) => {
        h.update(b);
        n += b.length;
      }),
      createWriteStream(tmp, { flags: 'wx' }),
    );
    return store.writeBlobFromFile(tmp, { digest: asBlobDigest(h.digest()), size: n });
  } finally {
    rmSync(tmp, { force: true });
  }
}

