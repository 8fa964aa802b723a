/**
 * The canonical form of a layer and its digest. A layer's identity is its sorted entry list:
 * types, modes, contents, link targets, device numbers, and owners and xattrs where they are
 * set; no mtimes, host inode numbers or user names, so the same change gives the same digest
 * everywhere. The digest is sha256 (see hash.ts): another machine may trust it.
 */
import { asLayerDigest, type LayerDigest } from './digest.js';
import type { LayerEntry } from './layer-types.js';
import { sha256 } from './hash.js';

/** Schema of the canonical entry list; bump when the serialization changes.
 *  2: layer model v2 (owners, xattrs, hardlinks, devices, fifos), sha256 over sha256 blobs. */
export const LAYER_SCHEMA = 2;

/** Byte-order-independent, locale-free path order (plain UTF-16 code unit comparison). */
export function compareLayerPaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const DOT_SEGMENT = /(?:^|\/)\.\.?(?:\/|$)/;

/** Why a layer path is invalid, or undefined when it is fine. */
export function invalidPathReason(path: string): string | undefined {
  if (path === '') return 'empty path';
  if (path.startsWith('/')) return 'absolute path';
  if (path.endsWith('/')) return 'trailing slash';
  if (path.includes('\0')) return 'NUL byte in path';
  // The common case without a split (a 10k-entry layer is checked on every put and decode):
  // no empty segment and no "." or ".." segment.
  if (!path.includes('//') && !DOT_SEGMENT.test(path)) return undefined;
  for (const seg of path.split('/')) {
    if (seg === '') return 'empty segment';
    if (seg === '.' || seg === '..') return `"${seg}" segment`;
  }
  return undefined;
}

/** One entry in canonical field order: the unit of the digest. */
function canonicalEntry(e: LayerEntry): unknown[] {
  const base = canonicalBase(e);
  // Owners and xattrs enter only when present, so root-owned, xattr-free entries keep the
  // short form.
  if (e.type === 'whiteout' || e.type === 'hardlink') return base;
  const uid = e.uid ?? 0;
  const gid = e.gid ?? 0;
  const xattrs = e.xattrs && Object.keys(e.xattrs).length ? Object.keys(e.xattrs).sort().map((k) => [k, e.xattrs![k]]) : undefined;
  if (uid === 0 && gid === 0 && !xattrs) return base;
  return [...base, { u: uid, g: gid, ...(xattrs ? { x: xattrs } : {}) }];
}

function canonicalBase(e: LayerEntry): unknown[] {
  switch (e.type) {
    case 'file':
      return [e.path, 'f', e.mode, e.size, e.digest];
    case 'dir':
      return [e.path, 'd', e.mode];
    case 'symlink':
      return [e.path, 'l', e.mode, e.target];
    case 'hardlink':
      return [e.path, 'h', e.target];
    case 'char':
      return [e.path, 'c', e.mode, e.major, e.minor];
    case 'block':
      return [e.path, 'b', e.mode, e.major, e.minor];
    case 'fifo':
      return [e.path, 'p', e.mode];
    case 'whiteout':
      return [e.path, 'w'];
    case 'opaque':
      return [e.path, 'o', e.mode];
  }
}

/**
 * Sort entries by path and check them: valid paths, each path once, sane modes, owners,
 * xattrs and device numbers, and every hardlink naming a `file` entry of the same layer that
 * sorts before it (so applying or writing the layer in path order meets the file first, as a
 * tar reader needs).
 * Throws an Error naming the first bad entry (callers turn it into a StoreError or a bug report).
 */
export function normalizeEntries(entries: readonly LayerEntry[]): LayerEntry[] {
  const sorted = [...entries].sort((a, b) => compareLayerPaths(a.path, b.path));
  let files: Set<string> | undefined;
  for (let i = 0; i < sorted.length; i++) {
    const e = sorted[i]!;
    // Quoted only for a message: JSON.stringify of every path was a third of this loop.
    const at = () => JSON.stringify(e.path);
    const why = invalidPathReason(e.path);
    if (why) throw new Error(`invalid layer entry path ${at()}: ${why}`);
    if (i > 0 && sorted[i - 1]!.path === e.path) throw new Error(`duplicate layer entry ${at()}`);
    if ('mode' in e && (!Number.isInteger(e.mode) || e.mode < 0 || e.mode > 0o7777)) {
      throw new Error(`invalid mode ${e.mode} for ${at()}`);
    }
    const meta = invalidMetaReason(e);
    if (meta) throw new Error(`invalid ${meta} for ${at()}`);
    switch (e.type) {
      case 'char':
      case 'block':
        if (!isId(e.major) || !isId(e.minor)) throw new Error(`invalid device numbers ${e.major},${e.minor} for ${at()}`);
        break;
      case 'hardlink':
        // The file must sort before the link: `files` holds the file paths seen so far.
        files ??= new Set(sorted.slice(0, i).flatMap((x) => (x.type === 'file' ? [x.path] : [])));
        if (!files.has(e.target)) throw new Error(`hardlink ${at()} names ${JSON.stringify(e.target)}, which is not a file entry earlier in the layer`);
        break;
      case 'file':
        files?.add(e.path);
        break;
    }
  }
  return sorted;
}

/** A uid, gid or device number: a non-negative 32-bit integer. */
const isId = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Why an entry's owner or xattr fields are invalid, or undefined. */
function invalidMetaReason(e: LayerEntry): string | undefined {
  if (e.type === 'whiteout' || e.type === 'hardlink') return undefined;
  if (e.uid !== undefined && !isId(e.uid)) return `uid ${e.uid}`;
  if (e.gid !== undefined && !isId(e.gid)) return `gid ${e.gid}`;
  if (e.xattrs === undefined) return undefined;
  if (typeof e.xattrs !== 'object' || e.xattrs === null || Array.isArray(e.xattrs)) return 'xattrs';
  for (const [k, v] of Object.entries(e.xattrs)) {
    if (k === '' || k.includes('\0') || k.includes('=')) return `xattr name ${JSON.stringify(k)}`;
    if (typeof v !== 'string' || !BASE64.test(v)) return `xattr ${k} (not base64)`;
  }
  return undefined;
}

/** Digest of an already-normalized entry list. */
export function layerDigest(sorted: readonly LayerEntry[]): LayerDigest {
  return asLayerDigest(sha256(JSON.stringify([LAYER_SCHEMA, sorted.map(canonicalEntry)])));
}

/** Sum of file sizes (a hardlink shares its file's bytes and adds none). */
export function layerSize(entries: readonly LayerEntry[]): number {
  let n = 0;
  for (const e of entries) if (e.type === 'file') n += e.size;
  return n;
}
