/**
 * One stage's steps, in order. FROM sets the stage's starting chain, metadata steps only add
 * history, and filesystem steps go through the cached-step life (steps/cached-step.ts) with
 * their instruction's handler. Errors that are the user's become a failed step naming it.
 */
import type { Session } from './build-session.js';
import { toUserError } from './errors.js';
import type { StepInfo } from './events.js';
import { historyText } from './image-history.js';
import type { PlannedStage } from './plan.js';
import { cachedStep } from './steps/cached-step.js';
import { copyStep } from './steps/copy-step.js';
import { fromStep } from './steps/from-step.js';
import { runStep } from './steps/run-step.js';
import { OK, type StepOutcome } from './steps/step-outcome.js';
import { workdirStep } from './steps/workdir-step.js';

export async function runStage(s: Session, stage: PlannedStage, signal: AbortSignal): Promise<StepOutcome> {
  let current: StepInfo | undefined;
  let started = false;
  try {
    for (const step of stage.steps) {
      if (signal.aborted) return { kind: 'cancelled' };
      const info = s.infos[step.index - 1]!;
      const t0 = performance.now();
      current = info;
      started = false;
      const start = (verdict: { cached?: boolean; reason?: string } = {}) => {
        started = true;
        s.bus.emit({ type: 'step-start', ...info, time: Date.now(), ...verdict });
      };
      const ins = step.instr;
      if (ins.kind === 'FROM' || !(ins.kind === 'RUN' || ins.kind === 'COPY' || ins.kind === 'ADD' || ins.kind === 'WORKDIR')) {
        started = true;
        s.bus.emit({ type: 'step-start', ...info, time: Date.now(), metadata: true });
        if (ins.kind === 'FROM') {
          const run = await fromStep(s, step);
          s.runs.set(stage.index, run);
          s.lease?.add({ layers: run.layers });
        }
        else s.runs.get(stage.index)!.history.push({ created: s.created(Date.now()), created_by: historyText(step), empty_layer: true });
        // Neither a hit nor a miss: no cache key (the build's counters skip it too).
        s.bus.emit({ type: 'step-done', ...info, cached: false, metadata: true, layer: null, size: 0, ms: Math.round(performance.now() - t0) });
        continue;
      }
      const run = s.runs.get(stage.index)!;
      const handler = ins.kind === 'RUN' ? runStep : ins.kind === 'WORKDIR' ? workdirStep : copyStep;
      const outcome = await cachedStep(s, handler, step, run, signal, start);
      if (outcome.kind !== 'ok') return outcome;
    }
    return OK;
  } catch (err) {
    const error = toUserError(err);
    if (!error) throw err;
    // Watch mode: a file saved while it was copied is not a failure to show; the build the
    // save starts replaces this one.
    if (error.code === 'ECHANGED' && s.opts.changedIsStale) {
      if (current) {
        if (!started) s.bus.emit({ type: 'step-start', ...current, time: Date.now() });
        s.bus.emit({ type: 'step-cancelled', ...current, ms: 0 });
      }
      return { kind: 'cancelled', ...(error.path !== undefined ? { changed: error.path } : {}) };
    }
    // A --cache-from layer that failed verification is no step's failure: the build runs again.
    if (current && error.code !== 'CACHE_FALLBACK') {
      // A step that failed before it ran (a COPY source missing, an unknown image…).
      if (!started) s.bus.emit({ type: 'step-start', ...current, time: Date.now() });
      s.bus.emit({ type: 'step-failed', ...current, ms: 0, message: error.message, ...(error.hint ? { hint: error.hint } : {}), logTail: [] });
    }
    return { kind: 'failed', error };
  }
}
