/**
 * The canonical form of a layer and its digest. A layer's identity is its sorted entry list:
 * no mtimes, owners or inode numbers, so the same change gives the same digest everywhere.
 */
import { asLayerDigest, type LayerDigest } from './digest.js';
import type { LayerEntry } from './layer-types.js';
import { sha256 } from './hash.js';

/** Schema of the canonical entry list; bump when the serialization changes. */
export const LAYER_SCHEMA = 1;

/** Byte-order-independent, locale-free path order (plain UTF-16 code unit comparison). */
export function compareLayerPaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Why a layer path is invalid, or undefined when it is fine. */
export function invalidPathReason(path: string): string | undefined {
  if (path === '') return 'empty path';
  if (path.startsWith('/')) return 'absolute path';
  if (path.endsWith('/')) return 'trailing slash';
  if (path.includes('\0')) return 'NUL byte in path';
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
 * Sort entries by path and check them: valid paths, each path once, sane modes.
 * Throws an Error naming the first bad entry (callers turn it into a StoreError or a bug report).
 */
export function normalizeEntries(entries: readonly LayerEntry[]): LayerEntry[] {
  const sorted = [...entries].sort((a, b) => compareLayerPaths(a.path, b.path));
  for (let i = 0; i < sorted.length; i++) {
    const e = sorted[i]!;
    const why = invalidPathReason(e.path);
    if (why) throw new Error(`invalid layer entry path ${JSON.stringify(e.path)}: ${why}`);
    if (i > 0 && sorted[i - 1]!.path === e.path) throw new Error(`duplicate layer entry ${JSON.stringify(e.path)}`);
    if ('mode' in e && (!Number.isInteger(e.mode) || e.mode < 0 || e.mode > 0o7777)) {
      throw new Error(`invalid mode ${e.mode} for ${JSON.stringify(e.path)}`);
    }
  }
  return sorted;
}

/** Digest of an already-normalized entry list. */
export function layerDigest(sorted: readonly LayerEntry[]): LayerDigest {
  return asLayerDigest(sha256(JSON.stringify([LAYER_SCHEMA, sorted.map(canonicalEntry)])));
}

/** Sum of file sizes. */
export function layerSize(entries: readonly LayerEntry[]): number {
  let n = 0;
  for (const e of entries) if (e.type === 'file') n += e.size;
  return n;
}
