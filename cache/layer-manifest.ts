/**
 * The on-disk form of a layer manifest, and its verified parse. The file's name is the
 * layer digest; parsing re-computes the digest from the entries, so a manifest that was
 * edited, truncated or renamed is rejected (a miss), never used.
 */
import { asBlobDigest, isDigestHex, type LayerDigest } from './digest.js';
import type { Layer, LayerEntry } from './layer-types.js';
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

/** A fresh entry with exactly the fields of its type, or undefined when malformed. */
function parseEntry(x: unknown): LayerEntry | undefined {
  if (!isObject(x) || typeof x.path !== 'string') return undefined;
  const { path } = x;
  const mode = x.mode;
  const okMode = typeof mode === 'number' && Number.isInteger(mode);
  switch (x.type) {
    case 'file':
      if (!okMode || typeof x.digest !== 'string' || !isDigestHex(x.digest)) return undefined;
      if (typeof x.size !== 'number' || !Number.isSafeInteger(x.size) || x.size < 0) return undefined;
      return { path, type: 'file', mode, size: x.size, digest: asBlobDigest(x.digest) };
    case 'dir':
    case 'opaque':
      return okMode ? { path, type: x.type, mode } : undefined;
    case 'symlink':
      return okMode && typeof x.target === 'string' ? { path, type: 'symlink', mode, target: x.target } : undefined;
    case 'whiteout':
      return { path, type: 'whiteout' };
    default:
      return undefined;
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
