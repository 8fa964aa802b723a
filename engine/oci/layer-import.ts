/**
 * An OCI / docker layer tar → a stratum layer, verified on the way in.
 *
 * One pass over the blob: its sha256 (the descriptor digest) is computed on the compressed
 * bytes, the diffID on the tar bytes, and the entries are turned into layer entries while the
 * file contents go into the store as blobs. The layer manifest is written only after both
 * digests and the size matched; a mismatch leaves at most unreferenced blobs, which prune
 * removes.
 *
 * Mapping (layer model v2): regular files, directories, symlinks, character and block
 * devices and fifos as they are, with their uid/gid and their xattrs (PAX `SCHILY.xattr.*`);
 * `d/.wh.x` → whiteout `d/x`; `d/.wh..wh..opq` → `d` is opaque (keeping the mode and owner of
 * `d`'s own entry, 0o755 root without one); a hardlink → a `hardlink` entry (the target must
 * be an earlier file of the same layer). A hardlink group is re-rooted at the path that sorts
 * first, which a stratum layer requires; the group is the same set of paths. Times and user
 * and group names are dropped: the numbers are what a container sees.
 *
 * The blob itself is kept (in the store, as the blob named by its sha256, which is its OCI
 * digest) with its diffID and descriptor, as the layer's origin (cache/layer-origin.ts): an
 * export of the unchanged layer then ships exactly those bytes, so a registry that has them
 * already is not sent them again, and the diffID in the config is the one the image had.
 *
 * Refused, naming the entry: absolute names, `..` segments, a name twice (also a whiteout
 * and an entry of one name), an entry beneath a symlink of the same layer, a hardlink to
 * anything but an earlier file of the layer, entry types no filesystem has, and an opaque
 * marker at the image root (stratum cannot express it).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createDecompress } from '../registry/decompress.js';
import type { ArchiveCompression } from '../archive-decompress.js';
import { asBlobDigest, type BlobDigest } from '../../cache/digest.js';
import { createSha256 } from '../../cache/hash.js';
import type { EntryMeta, Layer, LayerEntry } from '../../cache/layer-types.js';
import { compareLayerPaths } from '../../cache/layer-digest.js';
import { fromPaxValue, XATTR_PREFIX } from './tar-pax.js';
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
  /** The file at the path is this process's own download whose sha256 and size were checked
   *  against `digest` and `size` while it streamed in (engine/registry/blob-fetch.ts): it is
   *  not hashed again here. */
  verified?: boolean;
  /** The compression, when the caller knows it: ADD's xz and bzip2 archives (a layer's is
   *  told by its first bytes, and is never either). */
  compression?: ArchiveCompression;
}

export interface ImportedLayer {
  layer: Layer;
  diffId: string;
  /** Bytes of the uncompressed tar. */
  tarSize: number;
  /** sha256 hex and size of the blob as it was (compressed or not), and whether it was gzip. */
  digest: string;
  size: number;
  compression: ArchiveCompression;
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
  const kind = expect.compression ?? compressionOf(path);
  const verified = expect.verified === true && expect.digest !== undefined;
  const outer = createHash('sha256');
  let outerSize = 0;
  const inner = createHash('sha256');
  let innerSize = 0;
  const owned = store.importDir();
  const spool = owned.path;
  const builder = new LayerBuilder(label);
  try {
    // A verified download is hashed once, by the client that fetched it; only its size is counted.
    const measureOuter = (s: AsyncIterable<Buffer>) =>
      tap(
        s,
        verified
          ? (b) => void (outerSize += b.length)
          : (b) => {
              outer.update(b);
              outerSize += b.length;
            },
      );
    const measureInner = (s: AsyncIterable<Buffer>) =>
      tap(s, (b) => {
        inner.update(b);
        innerSize += b.length;
      });
    const entries = (s: AsyncIterable<Buffer>) => readTar(s, (entry) => builder.add(store, spool, entry));
    // zstd (OCI tar+zstd, as pulled from registries) through engine/registry/decompress.ts.
    // 1 MiB reads and 256 KiB gzip output chunks: per-chunk costs (stream callbacks, buffers
    // to collect) were a third of a 64 MiB import's CPU with the 64 KiB / 16 KiB defaults.
    const read = () => createReadStream(path, { highWaterMark: 1 << 20 });
    const inflate = kind === 'xz' || kind === 'bzip2' ? (await import('../archive-decompress.js')).createArchiveDecompress(kind) : kind !== 'none' ? createDecompress(kind, { chunkSize: 256 << 10 }) : undefined;
    if (inflate) await pipeline(read(), measureOuter, inflate, measureInner, entries);
    else await pipeline(read(), measureOuter, measureInner, entries);
  } catch (err) {
    if (err instanceof ImportError) throw err;
    // A blob that does not match its descriptor usually fails to unpack first: say that.
    checkBlob(label, await hashFile(path), expect);
    throw new ImportError('BAD_LAYER', `${label}: not a readable ${kind !== 'none' ? `${kind}-compressed ` : ''}tar: ${(err as Error).message}`);
  } finally {
    owned.remove();
  }
  const found = { digest: verified ? expect.digest! : outer.digest('hex'), size: outerSize };
  checkBlob(label, found, expect);
  const diffId = inner.digest('hex');
  if (expect.diffId !== undefined && diffId !== expect.diffId) {
    throw new ImportError('DIFFID_MISMATCH', `${label}: uncompressed layer has sha256 ${diffId}, the config's rootfs.diff_ids says ${expect.diffId}`);
  }
  const layer = store.putLayer(builder.finish());
  return { layer, diffId, tarSize: innerSize, ...found, compression: kind };
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

  /** Owner and xattrs of a tar entry, only those that are set. */
  #meta(header: Header): EntryMeta {
    const out: EntryMeta = {};
    if (header.uid) out.uid = header.uid;
    if (header.gid) out.gid = header.gid;
    const pax = (header as { pax?: Record<string, string> | null }).pax;
    if (pax) {
      const names = Object.keys(pax).filter((k) => k.startsWith(XATTR_PREFIX)).sort();
      if (names.length) out.xattrs = Object.fromEntries(names.map((k) => [k.slice(XATTR_PREFIX.length), fromPaxValue(pax[k]!)]));
    }
    return out;
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
    const meta = this.#meta(header);
    switch (header.type) {
      case 'directory':
        this.#put(raw, { path, type: 'dir', mode, ...meta });
        return;
      case 'symlink':
        this.#put(raw, { path, type: 'symlink', mode: mode || 0o777, target: header.linkname ?? '', ...meta });
        return;
      case 'link': {
        const link = header.linkname ?? '';
        if (link.startsWith('/') || link.split('/').includes('..')) throw this.#refuse(raw, `it hardlinks to "${link}", outside the layer (a link pointing out)`);
        const t = this.#entries.get(this.#clean(link));
        if (!t || (t.type !== 'file' && t.type !== 'hardlink')) throw this.#refuse(raw, `it hardlinks to "${header.linkname}", which is not an earlier file of this layer (a link pointing out)`);
        // A link to a link is a link to its file: a group has one file.
        this.#put(raw, { path, type: 'hardlink', target: t.type === 'hardlink' ? t.target : t.path });
        return;
      }
      case 'character-device':
      case 'block-device':
        this.#put(raw, { path, type: header.type === 'character-device' ? 'char' : 'block', mode, major: header.devmajor ?? 0, minor: header.devminor ?? 0, ...meta });
        return;
      case 'fifo':
        this.#put(raw, { path, type: 'fifo', mode, ...meta });
        return;
      case 'file':
      case 'contiguous-file': {
        const blob = await storeBody(store, spool, body, header.size);
        this.#put(raw, { path, type: 'file', mode, size: blob.size, digest: blob.digest, ...meta });
        return;
      }
      default:
        throw this.#refuse(raw, `entries of type ${header.type ?? 'unknown'} (tar type flag not a file, directory, link, device or fifo) cannot be stored in a stratum layer`);
    }
  }

  finish(): LayerEntry[] {
    for (const dir of this.#opaque) {
      const e = this.#entries.get(dir);
      if (e && e.type !== 'dir') throw this.#refuse(`${dir}/${OPAQUE_MARKER}`, `"${dir}" is not a directory in this layer`);
      const { path: _, type: __, ...rest } = e ?? { path: dir, type: 'dir', mode: 0o755 };
      this.#entries.set(dir, { path: dir, type: 'opaque', ...rest });
    }
    this.#rerootGroups();
    return [...this.#entries.values()];
  }

  /** Put each hardlink group's file at the group's first path in layer order (a tar names the
   *  first path it wrote, which need not sort first). */
  #rerootGroups(): void {
    const groups = new Map<string, string[]>();
    for (const e of this.#entries.values()) {
      if (e.type !== 'hardlink') continue;
      const g = groups.get(e.target);
      if (g) g.push(e.path);
      else groups.set(e.target, [e.path]);
    }
    for (const [file, links] of groups) {
      const first = links.reduce((a, b) => (compareLayerPaths(a, b) < 0 ? a : b));
      if (compareLayerPaths(file, first) < 0) continue;
      const f = this.#entries.get(file)!;
      this.#entries.set(first, { ...f, path: first });
      for (const p of [file, ...links]) if (p !== first) this.#entries.set(p, { path: p, type: 'hardlink', target: first });
    }
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
  const h = createSha256();
  let n = 0;
  try {
    await pipeline(
      tap(body, (b) => {
        h.update(b);
        n += b.length;
      }),
      createWriteStream(tmp, { flags: 'wx' }),
    );
    // Hashed as it was written, by us, in the store's own staging: linked in, not copied.
    return store.adoptBlobFile(tmp, { digest: asBlobDigest(h.digest()), size: n });
  } finally {
    rmSync(tmp, { force: true });
  }
}

