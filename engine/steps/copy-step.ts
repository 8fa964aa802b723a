/** COPY and ADD: from the context (by file fingerprints), or from a stage or image. */
import { asBlobDigest, type BlobDigest, type LayerDigest } from '../../cache/digest.js';
import { rememberKin } from '../layer-kin.js';
import { sha256 } from '../../cache/hash.js';
import type { LayerEntry } from '../../cache/layer-types.js';
import { stepError, type Session } from '../build-session.js';
import { copyFromContext, copyFromView, type CopyResult } from '../copy.js';
import type { Instruction } from '../dockerfile/types.js';
import { normalizeRef } from '../load.js';
import type { PlannedStep } from '../plan.js';
import { lazyView, type StageRun } from '../stage-state.js';
import { KEY_SCHEMA } from '../step-key.js';
import type { FsHandler, KeyInputs } from './cached-step.js';

type CopyInstr = Extract<Instruction, { kind: 'COPY' | 'ADD' }>;
interface CopyInputs extends KeyInputs {
  copy: CopyResult;
}

export const copyStep: FsHandler<CopyInputs> = {
  inputs(s, step, run) {
    const ins = step.instr as CopyInstr;
    const record: CopyInputs['record'] = { schema: KEY_SCHEMA, op: ins.kind, platform: s.platform, executor: s.executorKind(step), parent: run.chain, instruction: `${ins.sources.join(' ')} ${ins.dest}`, flags: {} };
    if (ins.chmod) record.flags.chmod = ins.chmod;
    if (ins.chown) record.flags.chown = ins.chown;
    if (ins.link) record.flags.link = 'true';
    if (ins.exclude.length) record.flags.exclude = ins.exclude.join(',');
    record.workdir = step.before.workdir;
    const below = lazyView(s.store, run, s.dryLayers);
    if (ins.from === undefined) {
      const copy = copyFromContext(ins, step.before.workdir, s.ctx, below);
      const files = copy.files!;
      record.files = { digest: files.digest, count: files.count };
      return { record, files, copy };
    }
    const src = sourceOf(s, step, ins);
    record.sourceChain = src.chain;
    const copy = copyFromView(ins, step.before.workdir, lazyView(s.store, src, s.dryLayers), below);
    record.flags.from = 'stage';
    record.instruction += ` ${JSON.stringify(copy.fromPaths)}`;
    return { record, copy };
  },
  dryEntries(_s, step, _run, { copy }) {
    return copyEntries(copy, step.instr as CopyInstr, (c) => ({ digest: asBlobDigest(sha256(c)), size: Buffer.byteLength(c) }));
  },
  async produce(s, step, _run, { copy }) {
    // Leased before they are written: one may exist already, unreferenced, and a prune must
    // not take it between our "present" and our layer.
    s.lease?.pending(copy.blobs.map((b) => b.digest));
    // The blobs of this step's last complete layer are present (and leased now): only the
    // changed files need writing; a one-file change of a 10k-file COPY stat'ed all 10k.
    const prevKey = s.history.previousKey(step);
    const earlier = prevKey ? s.store.trustBlobsOfKey(prevKey) : undefined;
    for (const b of copy.blobs) s.store.writeBlobFromFile(b.abs, { digest: b.digest, size: b.size });
    const entries = copyEntries(copy, step.instr as CopyInstr, (c) => s.store.writeBlob(Buffer.from(c)));
    // The new layer is a version of the earlier one: the sandbox extracts it by linking what
    // did not change (engine/layer-kin.ts).
    const committed = earlier && entries.length ? (layers: LayerDigest[]) => rememberKin(layers[layers.length - 1]!, earlier) : undefined;
    return { kind: 'layer', entries, ...(committed ? { committed } : {}) };
  },
};

/** The stage (or local image) a COPY --from reads. */
function sourceOf(s: Session, step: PlannedStep, ins: CopyInstr): StageRun {
  const srcStage = s.plan.copyFrom.get(step);
  if (srcStage !== undefined) return s.runs.get(srcStage)!;
  const image = s.store.getImage(normalizeRef(ins.from!));
  if (!image) throw stepError(s, step, 'NO_IMAGE', `COPY --from=${ins.from}: no stage or image by that name`, 'name a stage defined above (FROM … AS name), or an image in the local store');
  return { layers: image.layers, chain: image.chain, history: [] };
}

/** A copy's layer entries, heredoc bodies turned into blobs by `blob`. */
function copyEntries(c: CopyResult, ins: CopyInstr, blob: (content: string) => { digest: BlobDigest; size: number }): LayerEntry[] {
  const entries = [...c.entries];
  for (const i of c.inline) {
    const w = blob(i.content);
    entries.push({ path: i.path, type: 'file', mode: ins.chmod ? parseInt(ins.chmod, 8) : 0o644, size: w.size, digest: w.digest });
  }
  return entries;
}
