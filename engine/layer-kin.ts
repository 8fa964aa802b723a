/**
 * Kinship between layers: "layer L is a new version of layer K", known when a step that made
 * K before makes L now (a COPY whose sources changed in one file of 10k). The sandbox uses it
 * to extract L by hard-linking every file that is the same in K's extracted tree instead of
 * copying all of them again (engine/sandbox/extract.ts).
 *
 * A fact about two digests, true in any store, so it lives in memory for the process (a
 * build, or a watch session's builds); a wrong or stale hint costs nothing but the lookup.
 */
import type { LayerDigest } from '../cache/digest.js';

const kin = new Map<LayerDigest, LayerDigest>();
/** Plenty for a watch session; the oldest facts go first. */
const MAX = 1000;

/** Record that `layer` was made by the step whose previous layer was `earlier`. */
export function rememberKin(layer: LayerDigest, earlier: LayerDigest): void {
  if (layer === earlier) return;
  kin.delete(layer);
  kin.set(layer, earlier);
  if (kin.size > MAX) kin.delete(kin.keys().next().value!);
}

/** The earlier version of `layer`, when one is known. */
export function kinOf(layer: LayerDigest): LayerDigest | undefined {
  return kin.get(layer);
}
