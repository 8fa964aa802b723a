/**
 * A stratum layer as an OCI layer tar (image-spec layer.md), byte-reproducible:
 *
 * - entries in the layer's own order (sorted by path, so a parent before its children);
 * - every header has the same mtime (the export epoch) and no user/group names; uid/gid are
 *   the entry's (0 when it has none); xattrs go into a PAX header as `SCHILY.xattr.<name>`
 *   (what GNU tar, Go's archive/tar and so containerd, umoci and BuildKit read), in name order;
 * - a hardlink is a `link` entry naming its file (which sorts, and so is written, before it);
 *   character and block devices carry their numbers, fifos are fifos;
 * - directories end in '/', symlinks carry their target as the link name;
 * - a whiteout at `d/x` is an empty file `d/.wh.x`; an opaque directory `d` is the directory
 *   itself followed directly by `d/.wh..wh..opq`, before any of its children (an extractor
 *   that applies the marker when it sees it must not hide this layer's own children);
 * - exactly the layer's entries: no implicit parent directories, so importing the tar gives
 *   back the same entries and the same layer digest.
 *
 * File contents stream from the store's blobs and are checked against their sha256 on the
 * way out (a corrupt blob fails the export rather than shipping wrong bytes).
 */
import { createReadStream } from 'node:fs';
import { pack as tarPack, type Pack } from 'tar-stream';
import type { EntryMeta, Layer, LayerEntry } from '../../cache/layer-types.js';
import { StoreError, type Store } from '../../cache/store-types.js';
import { createSha256 } from '../../cache/hash.js';
import { packEntry } from './tar-stream-util.js';
import { paxValue, XATTR_PREFIX } from './tar-pax.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

/** Files up to this size are read whole (verified by readBlob); larger ones stream. */
const SMALL_FILE = 1 << 20;

/** tar-stream replaces a falsy mode with 0o644/0o755; a file type bit keeps mode 0 intact
 *  (tar-stream writes `mode & 0o7777`). */
const tarMode = (mode: number) => (mode === 0 ? 0o100000 : mode);

function splitPath(path: string): { dir: string; base: string } {
  const i = path.lastIndexOf('/');
  return i < 0 ? { dir: '', base: path } : { dir: path.slice(0, i + 1), base: path.slice(i + 1) };
}

/** The tar stream of a layer. Errors (a missing or corrupt blob) destroy the stream. */
export function layerTar(store: Store, layer: Layer, epochSeconds: number): Pack {
  const pack = tarPack();
  const mtime = new Date(epochSeconds * 1000);
  const base = { mtime, uid: 0, gid: 0, uname: '', gname: '' };
  void (async () => {
    try {
      for (const e of layer.entries) await writeEntry(store, pack, e, base);
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  return pack;
}

type Base = { mtime: Date; uid: number; gid: number; uname: string; gname: string };

/** The header fields an entry's owner and xattrs set. PAX records are written in name order so
 *  the bytes do not depend on the order the xattrs were read in (values: see tar-pax.ts). */
function metaFields(e: EntryMeta): { uid?: number; gid?: number; pax?: Record<string, string> } {
  const out: { uid?: number; gid?: number; pax?: Record<string, string> } = {};
  if (e.uid) out.uid = e.uid;
  if (e.gid) out.gid = e.gid;
  const names = Object.keys(e.xattrs ?? {}).sort();
  if (names.length) out.pax = Object.fromEntries(names.map((n) => [`${XATTR_PREFIX}${n}`, paxValue(e.xattrs![n]!)]));
  return out;
}

async function writeEntry(store: Store, pack: Pack, e: LayerEntry, plain: Base): Promise<void> {
  const base = e.type === 'whiteout' || e.type === 'hardlink' ? plain : { ...plain, ...metaFields(e) };
  switch (e.type) {
    case 'hardlink':
      return packEntry(pack, { ...base, name: e.path, type: 'link', mode: tarMode(0o644), linkname: e.target });
    case 'char':
    case 'block':
      return packEntry(pack, { ...base, name: e.path, type: e.type === 'char' ? 'character-device' : 'block-device', mode: tarMode(e.mode), devmajor: e.major, devminor: e.minor });
    case 'fifo':
      return packEntry(pack, { ...base, name: e.path, type: 'fifo', mode: tarMode(e.mode) });
    case 'dir':
      return packEntry(pack, { ...base, name: `${e.path}/`, type: 'directory', mode: tarMode(e.mode) });
    case 'opaque':
      await packEntry(pack, { ...base, name: `${e.path}/`, type: 'directory', mode: tarMode(e.mode) });
      return packEntry(pack, { ...base, name: `${e.path}/${OPAQUE_MARKER}`, type: 'file', mode: tarMode(0), size: 0 }, Buffer.alloc(0));
    case 'whiteout': {
      const { dir, base: name } = splitPath(e.path);
      return packEntry(pack, { ...base, name: `${dir}${WHITEOUT_PREFIX}${name}`, type: 'file', mode: tarMode(0), size: 0 }, Buffer.alloc(0));
    }
    case 'symlink':
      return packEntry(pack, { ...base, name: e.path, type: 'symlink', mode: tarMode(e.mode), linkname: e.target });
    case 'file': {
      const header = { ...base, name: e.path, type: 'file' as const, mode: tarMode(e.mode), size: e.size };
      if (e.size <= SMALL_FILE) {
        const data = store.readBlob(e.digest, e.size);
        if (!data) throw new StoreError('EMISSING', `blob ${e.digest} of ${e.path} is missing from the store`, { digest: e.digest, path: e.path });
        return packEntry(pack, header, data);
      }
      return packEntry(pack, header, verifiedBlob(store, e));
    }
  }
}

/** A large blob's bytes, checked against its digest and size once read (before the entry ends). */
async function* verifiedBlob(store: Store, e: Extract<LayerEntry, { type: 'file' }>): AsyncGenerator<Buffer> {
  if (!store.hasBlob(e.digest)) throw new StoreError('EMISSING', `blob ${e.digest} of ${e.path} is missing from the store`, { digest: e.digest, path: e.path });
  const h = createSha256();
  let size = 0;
  for await (const chunk of createReadStream(store.blobPath(e.digest), { highWaterMark: 64 * 1024 })) {
    const buf = chunk as Buffer;
    h.update(buf);
    size += buf.length;
    if (size > e.size) break;
    yield buf;
  }
  const found = h.digest();
  if (found !== e.digest || size !== e.size) {
    throw new StoreError('EINTEGRITY', `blob ${e.digest} of ${e.path} does not match its digest (found ${found}, ${size} bytes); run \`stratum cache verify\``, {
      expected: e.digest,
      found,
      path: store.blobPath(e.digest),
    });
  }
}
