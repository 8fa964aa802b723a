/**
 * The state of one stage while it builds: the chain so far, its image history, and the union
 * view of the chain, merged only when something reads it (a run of cache hits never does).
 */
import type { ChainDigest, LayerDigest } from '../cache/digest.js';
import type { Layer, LayerEntry } from '../cache/layer-types.js';
import { StoreError, type HistoryEntry, type Store } from '../cache/store-types.js';
import { lookupInChain, mergeChain } from './union-view.js';
import type { ViewLike } from './workspace.js';

export interface StageRun {
  layers: LayerDigest[];
  chain: ChainDigest;
  history: HistoryEntry[];
  /** The merged view of `layers`, when known. */
  view?: ViewLike;
}

/** Layers computed by a dry run (`stratum plan`): known but never stored. */
export type DryLayers = Map<LayerDigest, Pick<Layer, 'entries'> & { entries: LayerEntry[] }>;

/** The union view of a stage's chain, merged on first use and kept until the chain moves. */
export function viewOf(store: Store, run: StageRun, dry?: DryLayers): ViewLike {
  if (!run.view) {
    let missing: LayerDigest | undefined;
    const view = mergeChain(run.layers, (d) => {
      const l = dry?.get(d) ?? store.getLayer(d);
      if (!l) missing = d;
      return l;
    });
    if (!view) throw new StoreError('EMISSING', `layer ${missing} is missing from the store`, { layer: missing });
    run.view = view;
  }
  return run.view;
}

/** A view merged only when first read: a COPY that hits may never need it. A point lookup
 *  (`get`, `has`) reads the layers top-down instead of merging, when that can tell. */
export function lazyView(store: Store, run: StageRun, dry?: DryLayers): ViewLike {
  const v = () => viewOf(store, run, dry);
  const get = (p: string) => {
    if (run.view) return run.view.get(p);
    const e = lookupInChain(run.layers, (d) => dry?.get(d) ?? store.getLayer(d), p);
    return e === 'unknown' ? v().get(p) : e;
  };
  return {
    get,
    has: (p) => get(p) !== undefined,
    keys: () => v().keys(),
    get size() {
      return v().size;
    },
    entries: () => v().entries(),
  };
}

/** Stack a step's layer on the stage. `after`: the view after the step when the step already
 *  knows it (a RUN's snapshot); otherwise the view is re-merged when next needed. */
export function applyStepResult(run: StageRun, layer: LayerDigest | null, chain: ChainDigest, after?: ViewLike): void {
  if (!layer) return;
  run.layers = [...run.layers, layer];
  run.chain = chain;
  run.view = after;
}
