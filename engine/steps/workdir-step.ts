/** WORKDIR makes a layer (its directories) only when the path is missing, as BuildKit does. */
import { resolve, sep } from 'node:path';
import type { LayerEntry } from '../../cache/layer-types.js';
import type { Instruction } from '../dockerfile/types.js';
import type { PlannedStep } from '../plan.js';
import { lazyView } from '../stage-state.js';
import { KEY_SCHEMA } from '../step-key.js';
import type { ViewLike } from '../workspace.js';
import type { FsHandler, KeyInputs } from './cached-step.js';

export const workdirStep: FsHandler<KeyInputs> = {
  inputs(s, step, run) {
    return { record: { schema: KEY_SCHEMA, op: 'WORKDIR', platform: s.platform, executor: s.executorKind(step), parent: run.chain, instruction: workdirAfter(step), flags: {} } };
  },
  dryEntries(s, step, run) {
    return workdirEntries(workdirAfter(step), lazyView(s.store, run, s.dryLayers));
  },
  async produce(s, step, run) {
    return { kind: 'layer', entries: workdirEntries(workdirAfter(step), lazyView(s.store, run, s.dryLayers)) };
  },
};

export function workdirAfter(step: PlannedStep): string {
  const ins = step.instr as Extract<Instruction, { kind: 'WORKDIR' }>;
  return resolve('/', step.before.workdir, ins.path).split(sep).join('/');
}

/** The directory (and missing parents) when the view below lacks it. */
function workdirEntries(abs: string, below: ViewLike): LayerEntry[] {
  const out: LayerEntry[] = [];
  let p = '';
  for (const seg of abs.split('/').filter(Boolean)) {
    p = p ? `${p}/${seg}` : seg;
    if (below.get(p)?.type !== 'dir') out.push({ path: p, type: 'dir', mode: 0o755 });
  }
  return out;
}
