/**
 * The shared life of a step that makes a filesystem layer (RUN, COPY, ADD, WORKDIR): key it,
 * reuse the cached layer on a hit, or explain the miss, produce the layer, and commit it:
 * blobs, then the layer, then the key (a key on disk always means a complete entry).
 * What differs per instruction lives in its handler (steps/run-step.ts, copy-step.ts,
 * workdir-step.ts).
 */
import type { LayerEntry } from '../../cache/layer-types.js';
import type { Layer } from '../../cache/layer-types.js';
import { StoreError, type KeyRecord } from '../../cache/store-types.js';
import type { ChainDigest, LayerDigest, StepKey } from '../../cache/digest.js';
import { layerDigest, normalizeEntries } from '../../cache/layer-digest.js';
import type { Session } from '../build-session.js';
import type { MissReason, StepInfo } from '../events.js';
import { explainMiss } from '../explain-miss.js';
import { historyEntry } from '../image-history.js';
import type { PlannedStep } from '../plan.js';
import { applyStepResult, type StageRun } from '../stage-state.js';
import { stepKey, type FileList, type KeyRecordV1 } from '../step-key.js';
import { chainDigest } from '../union-view.js';
import type { ViewLike } from '../workspace.js';
import { OK, type StepOutcome } from './step-outcome.js';

export interface KeyInputs {
  record: KeyRecordV1;
  /** COPY from the context: the sorted source rows (kept for miss explanations), built only
   *  when read. */
  files?: FileList;
}

/** What a dry run learned about one step, handed to the build that follows it (watch mode,
 *  `BuildOptions.keyMemo`): the inputs, the key and, for a miss, its explanation. */
export interface StepMemo {
  /** What the inputs were computed from, besides the context: checked before reuse. */
  text: string;
  before: string;
  parent: ChainDigest;
  inputs: KeyInputs;
  key: StepKey;
  why?: MissReason;
}

export type Produced =
  | { kind: 'layer'; entries: LayerEntry[]; after?: ViewLike; committed?: (layers: LayerDigest[], chain: ChainDigest) => void }
  | Exclude<StepOutcome, { kind: 'ok' }>;

export interface FsHandler<I extends KeyInputs> {
  /** What the key needs from outside the store and the context, fetched first (ADD's remote
   *  files: engine/add-url.ts). */
  prefetch?(s: Session, step: PlannedStep, run: StageRun, signal: AbortSignal): Promise<void>;
  inputs(s: Session, step: PlannedStep, run: StageRun): I;
  /** A dry run's layer, computed from the inputs alone; undefined when only running tells (RUN). */
  dryEntries(s: Session, step: PlannedStep, run: StageRun, inputs: I): LayerEntry[] | undefined;
  produce(s: Session, step: PlannedStep, run: StageRun, inputs: I, signal: AbortSignal, info: StepInfo, startedAt: number): Promise<Produced>;
}

export async function cachedStep<I extends KeyInputs>(
  s: Session,
  handler: FsHandler<I>,
  step: PlannedStep,
  run: StageRun,
  signal: AbortSignal,
  start: (verdict: { cached?: boolean; reason?: string }) => void,
): Promise<StepOutcome> {
  const { store, bus, opts } = s;
  const info = s.infos[step.index - 1]!;
  const startedAt = performance.now();
  // A COPY --from is keyed by the other stage's files, and a COPY may look at the layers below
  // its destination: a layer a --cache-from hit left remote is brought in when the key
  // computation finds it missing (EMISSING), and the key is computed again.
  // A dry run just before this build keyed the step from the same context reader: reuse its
  // inputs (a COPY's 10k rows and their digest) when they stand on the same parent and config.
  // COPY --from reads another stage or an image: always keyed again.
  const memo = opts.dryRun ? undefined : opts.keyMemo?.get(step.index);
  const readsStage = ('from' in step.instr && step.instr.from !== undefined) || (step.instr.kind === 'RUN' && step.instr.mounts.some((m) => m.from !== undefined));
  const reuse = memo && memo.parent === run.chain && memo.text === step.text && !readsStage && memo.before === JSON.stringify(step.before) ? memo : undefined;
  let inputs: I;
  if (!reuse) await handler.prefetch?.(s, step, run, signal);
  try {
    inputs = reuse ? (reuse.inputs as I) : handler.inputs(s, step, run);
  } catch (err) {
    if (!(s.remoteCache?.hasPending && !opts.dryRun && err instanceof StoreError && err.code === 'EMISSING')) throw err;
    const from = s.plan.copyFrom.get(step);
    await s.remoteCache.materialize([...run.layers, ...(from !== undefined ? (s.runs.get(from)?.layers ?? []) : [])]);
    run.view = undefined;
    if (from !== undefined) s.runs.get(from)!.view = undefined;
    inputs = handler.inputs(s, step, run);
  }
  const key = reuse?.key ?? stepKey(inputs.record);
  if (opts.dryRun) opts.keyMemo?.set(step.index, { text: step.text, before: JSON.stringify(step.before), parent: run.chain, inputs, key });
  s.keys[step.index - 1] = key;
  opts.onStepKey?.(step.index, key);

  // Dry run: what follows an unknown layer is unknown too, across COPY --from as well.
  if (opts.dryRun && !s.dirtyStages.has(step.stage)) {
    for (const fromStage of [s.plan.copyFrom.get(step), ...(s.plan.mountFrom.get(step)?.values() ?? [])]) {
      if (fromStage !== undefined && s.dirtyStages.has(fromStage)) {
        s.dirtyStages.set(step.stage, s.dirtyStages.get(fromStage)!);
        break;
      }
    }
  }
  if (opts.dryRun && s.dirtyStages.has(step.stage)) {
    s.counters.misses++;
    const why: MissReason = { kind: 'parent', text: `runs after step ${s.dirtyStages.get(step.stage)} rebuilds` };
  start({ cached: false, reason: why.text });
    bus.emit({ type: 'step-done', ...info, cached: false, layer: null, size: 0, ms: 0, reason: why.text, why });
    return OK;
  }

  s.stepRecords?.set(step, { record: inputs.record, ...(inputs.files ? { files: inputs.files.rows() } : {}) });

  // --- hit (locally, else in a --cache-from cache, whose layer comes in when needed) --------
  const local = opts.noCache ? undefined : store.getKey(key);
  const remote = local || opts.noCache ? undefined : await s.remoteCache?.lookup(key, { prefetch: s.prefetchStages?.has(step.stage) === true });
  const cached = local ?? remote?.entry;
  if (cached) {
    if (local) s.lease?.add({ keys: [key], layers: cached.layer ? [cached.layer] : [] });
    start({ cached: true });
    s.counters.hits++;
    s.counters.savedMs += cached.durationMs;
    applyStepResult(run, cached.layer, cached.chain);
    // The size from the key record: a hit never decodes its layer's manifest.
    const size = cached.layer ? (('layerSize' in cached ? cached.layerSize : undefined) ?? store.getLayer(cached.layer)?.size ?? remote?.size ?? 0) : 0;
    run.history.push(historyEntry(step, cached.layer, store, s.created(cached.created), size));
    s.history.remember(step, inputs.record, inputs.files, key);
    bus.emit({ type: 'step-done', ...info, cached: true, layer: cached.layer, size, ms: Math.round(performance.now() - startedAt), savedMs: cached.durationMs });
    return OK;
  }

  // --- miss: explain, produce, commit ------------------------------------------------------
  s.counters.misses++;
  // Explained against this machine's last build of the step, else against the imported cache's;
  // a reused key's miss was explained by the dry run, against the same history.
  const rejected = s.remoteCache?.rejected(key);
  const explain = () => explainMiss(s.history.previous(step) ?? s.remoteCache?.previous(step.stageName, step.stageIndex), inputs.record, inputs.files ? () => inputs.files!.rows() : undefined);
  const why: MissReason = opts.noCache ? { kind: 'no-cache-flag', text: 'cache disabled (--no-cache)' } : rejected ? { kind: 'evicted', text: rejected } : (reuse?.why ?? explain());
  if (opts.dryRun) {
    const m = opts.keyMemo?.get(step.index);
    if (m) m.why = why;
  }
  start({ cached: false, reason: why.text });
  // A dry run stopped at its first miss (watch mode's re-key) needs nothing past the verdict.
  if (opts.dryRun && signal.aborted) return { kind: 'cancelled' };
  if (opts.dryRun) {
    const entries = handler.dryEntries(s, step, run, inputs);
    if (entries === undefined) {
      // A RUN's layer is unknown until it runs: what follows it in this stage is unknown too.
      s.dirtyStages.set(step.stage, step.index);
      bus.emit({ type: 'step-done', ...info, cached: false, layer: null, size: 0, ms: 0, reason: why.text, why });
      return OK;
    }
    let layer: LayerDigest | null = null;
    if (entries.length) {
      const sorted = normalizeEntries(entries);
      layer = layerDigest(sorted);
      s.dryLayers.set(layer, { entries: sorted });
    }
    applyStepResult(run, layer, layer ? chainDigest(run.chain, layer) : run.chain);
    bus.emit({ type: 'step-done', ...info, cached: false, layer, size: 0, ms: 0, reason: why.text, why });
    return OK;
  }
  // The step runs on the layers below it: bring in those a --cache-from hit left remote.
  await s.remoteCache?.materialize();
  const produced = await handler.produce(s, step, run, inputs, signal, info, startedAt);
  if (produced.kind !== 'layer') return produced;
  s.lease?.pending(produced.entries.flatMap((e) => (e.type === 'file' ? [e.digest] : [])));
  const layer: Layer | undefined = produced.entries.length ? store.putLayer(produced.entries) : undefined;
  // The layer keeps its blobs from here on: the pending list goes in the same lease write.
  if (layer) s.lease?.add({ layers: [layer.digest], pending: [] });
  const chain = layer ? chainDigest(run.chain, layer.digest) : run.chain;
  const durationMs = Math.round(performance.now() - startedAt);
  const keyRecord: KeyRecord = { key, layer: layer?.digest ?? null, chain, record: inputs.record, created: Date.now(), durationMs, ...(layer ? { layerSize: layer.size } : {}) };
  s.lease?.add({ keys: [key] });
  store.putKey(keyRecord);
  s.lease?.pending([]);
  produced.committed?.(layer ? [...run.layers, layer.digest] : run.layers, chain);
  applyStepResult(run, layer?.digest ?? null, chain, produced.after);
  run.history.push(historyEntry(step, layer?.digest ?? null, store, s.created(keyRecord.created), layer?.size));
  s.history.remember(step, inputs.record, inputs.files, key);
  bus.emit({ type: 'step-done', ...info, cached: false, layer: layer?.digest ?? null, size: layer?.size ?? 0, ms: durationMs, reason: why.text, why });
  return OK;
}
