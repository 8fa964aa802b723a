/** Docker-history rows and the image config of a finished stage. */
import type { LayerDigest } from '../cache/digest.js';
import type { HistoryEntry, Store } from '../cache/store-types.js';
import type { ConfigState, PlannedStep } from './plan.js';

/** `created_by` as BuildKit writes it. */
export function historyText(step: PlannedStep): string {
  const ins = step.instr;
  if (ins.kind === 'RUN') return `RUN ${ins.exec ? JSON.stringify(ins.exec) : `/bin/sh -c ${ins.shell ?? ''}`} # buildkit`;
  return step.text;
}

/** `size`: the layer's size when the caller knows it (a key record keeps it); otherwise the
 *  manifest is read for it. */
export function historyEntry(step: PlannedStep, layer: LayerDigest | null, store: Store, created: string, size?: number): HistoryEntry {
  if (!layer) return { created, created_by: historyText(step), empty_layer: true };
  return { created, created_by: historyText(step), layer, size: size ?? store.getLayer(layer)?.size ?? 0 };
}

export function imageConfig(st: ConfigState) {
  const cfg = structuredClone(st.image);
  if (st.env.length) cfg.Env = st.env.map(([k, v]) => `${k}=${v}`);
  if (st.workdir !== '/') cfg.WorkingDir = st.workdir;
  return cfg;
}

export const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
