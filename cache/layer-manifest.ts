/**
 * The on-disk form of a layer manifest, and its verified parse. The file's name is the
 * layer digest; parsing re-computes the digest from the entries, so a manifest that was
 * edited, truncated or renamed is rejected (a miss), never used.
 *
 * A manifest carries `check`, the xxh64 of its entries' JSON as written (the last field).
 * Only putLayer writes manifests, from entries it has just normalized and digested, so a
 * manifest whose entries still match their check holds exactly what was verified: its
 * entries are used as parsed, without re-validating and re-hashing each one (that was ~30-70
 * ms per 10k-entry layer, read by every incremental build; bench/findings.md). Any damage to
 * the entries fails the check and takes the full path, which rejects it; a manifest without a
 * check (written before it existed) takes the full path too. `cache verify` always does.
 */
import { asBlobDigest, isDigestHex, type LayerDigest } from './digest.js';
import type { EntryMeta, Layer, LayerEntry } from './layer-types.js';
import { LAYER_SCHEMA, layerDigest, layerSize, normalizeEntries } from './layer-digest.js';
import { xxh64 } from './hash.js';

const ENTRIES_FIELD = ',"entries":';

export function encodeLayer(layer: Layer): string {
  const entries = JSON.stringify(layer.entries);
  return `${JSON.stringify({ schema: LAYER_SCHEMA, digest: layer.digest, size: layer.size, check: xxh64(entries) }).slice(0, -1)}${ENTRIES_FIELD}${entries}}`;
}

/** The layer in `text` when it is well formed and its entries hash to `digest`; else
 *  undefined. `full`: verify every entry and the digest even when the check matches. */
export function decodeLayer(text: string, digest: LayerDigest, opts: { full?: boolean } = {}): Layer | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(doc) || doc.schema !== LAYER_SCHEMA || !Array.isArray(doc.entries)) return undefined;
  if (!opts.full && typeof doc.check === 'string' && doc.digest === digest && text.endsWith(']}')) {
    // The header holds no `,"entries":` (schema, a hex digest, a number, a hex check): the
    // first one starts the entries, which run to the closing brace.
    const at = text.indexOf(ENTRIES_FIELD);
    if (at > 0 && xxh64(text.slice(at + ENTRIES_FIELD.length, -1)) === doc.check) {
      const entries = doc.entries as LayerEntry[];
      return { digest, entries, size: layerSize(entries) };
    }
  }
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
