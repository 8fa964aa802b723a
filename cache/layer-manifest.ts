/**
 * The on-disk form of a layer manifest, and its verified parse. The file's name is the
 * layer digest; parsing re-computes the digest from the entries, so a manifest that was
 * edited, truncated or renamed is rejected (a miss), never used.
 */
import { asBlobDigest, isDigestHex, type LayerDigest } from './digest.js';
import type { EntryMeta, Layer, LayerEntry } from './layer-types.js';
import { LAYER_SCHEMA, layerDigest, layerSize, normalizeEntries } from './layer-digest.js';

export function encodeLayer(layer: Layer): string {
  return JSON.stringify({ schema: LAYER_SCHEMA, digest: layer.digest, size: layer.size, entries: layer.entries });
}

/** The layer in `text` when it is well formed and its entries hash to `digest`; else undefined. */
export function decodeLayer(text: string, digest: LayerDigest): Layer | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(doc) || doc.schema !== LAYER_SCHEMA || !Array.isArray(doc.entries)) return undefined;
  const entries: LayerEntry[] = [];
  for (const raw of doc.entries) {
    const e = parseEntry(raw);
    if (!e) return undefined;
    entries.push(e);
  }
  let sorted: LayerEntry[];
  try {
    sorted = normalizeEntries(entries);
  } catch {
    return undefined;
  }
  if (layerDigest(sorted) !== digest) return undefined;
  return { digest, entries: sorted, size: layerSize(sorted) };
}

/** A fresh entry with exactly the fields of its type (owners and xattrs only where set), or
 *  undefined when malformed. Values are checked further by normalizeEntries. */
function parseEntry(x: unknown): LayerEntry | undefined {
  if (!isObject(x) || typeof x.path !== 'string') return undefined;
  const { path } = x;
  const mode = x.mode;
  const okMode = typeof mode === 'number' && Number.isInteger(mode);
  const meta = parseMeta(x);
  if (meta === undefined) return undefined;
  switch (x.type) {
    case 'file':
      if (!okMode || typeof x.digest !== 'string' || !isDigestHex(x.digest)) return undefined;
      if (typeof x.size !== 'number' || !Number.isSafeInteger(x.size) || x.size < 0) return undefined;
      return { path, type: 'file', mode, size: x.size, digest: asBlobDigest(x.digest), ...meta };
    case 'dir':
    case 'opaque':
    case 'fifo':
      return okMode ? { path, type: x.type, mode, ...meta } : undefined;
    case 'symlink':
      return okMode && typeof x.target === 'string' ? { path, type: 'symlink', mode, target: x.target, ...meta } : undefined;
    case 'char':
    case 'block':
      return okMode && typeof x.major === 'number' && typeof x.minor === 'number' ? { path, type: x.type, mode, major: x.major, minor: x.minor, ...meta } : undefined;
    case 'hardlink':
      return typeof x.target === 'string' ? { path, type: 'hardlink', target: x.target } : undefined;
    case 'whiteout':
      return { path, type: 'whiteout' };
    default:
      return undefined;
  }
}

/** uid, gid and xattrs of a raw entry, only those present; undefined when one is malformed. */
function parseMeta(x: Record<string, unknown>): EntryMeta | undefined {
  const out: EntryMeta = {};
  if (x.uid !== undefined) {
    if (typeof x.uid !== 'number') return undefined;
    if (x.uid !== 0) out.uid = x.uid;
  }
  if (x.gid !== undefined) {
    if (typeof x.gid !== 'number') return undefined;
    if (x.gid !== 0) out.gid = x.gid;
  }
  if (x.xattrs !== undefined) {
    if (!isObject(x.xattrs)) return undefined;
    const xattrs: Record<string, string> = {};
    for (const [k, v] of Object.entries(x.xattrs)) {
      if (typeof v !== 'string') return undefined;
      xattrs[k] = v;
    }
    if (Object.keys(xattrs).length) out.xattrs = xattrs;
  }
  return out;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
