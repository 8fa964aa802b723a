/**
 * The on-disk form of a key record, and its checked parse. The file's mtime is the key's
 * last use (touched by getKey), which is what `prune --keep-storage` evicts by.
 */
import { asChainDigest, asLayerDigest, isDigestHex, type StepKey } from './digest.js';
import type { KeyRecord } from './store-types.js';

export function encodeKey(record: KeyRecord): string {
  const { key, layer, chain, record: rec, created, durationMs, layerSize } = record;
  return JSON.stringify({ key, layer, chain, record: rec, created, durationMs, ...(layerSize !== undefined ? { layerSize } : {}) });
}

/** The record in `text` when it is well formed and is the record of `key`; else undefined. */
export function decodeKey(text: string, key: StepKey): KeyRecord | undefined {
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof x !== 'object' || x === null) return undefined;
  const r = x as Record<string, unknown>;
  if (r.key !== key) return undefined;
  if (r.layer !== null && !(typeof r.layer === 'string' && isDigestHex(r.layer))) return undefined;
  if (typeof r.chain !== 'string' || !isDigestHex(r.chain)) return undefined;
  if (!Number.isFinite(r.created) || !Number.isFinite(r.durationMs)) return undefined;
  return {
    key,
    layer: r.layer === null ? null : asLayerDigest(r.layer),
    chain: asChainDigest(r.chain),
    record: r.record,
    created: r.created as number,
    durationMs: r.durationMs as number,
    ...(Number.isSafeInteger(r.layerSize) && (r.layerSize as number) >= 0 ? { layerSize: r.layerSize as number } : {}),
  };
}
