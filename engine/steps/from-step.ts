/** FROM: the stage starts from scratch, from another stage's final state, or from an image. */
import { resolve } from 'node:path';
import { EMPTY_CHAIN } from '../../cache/digest.js';
import { stepError, type Session } from '../build-session.js';
import { normalizeRef } from '../load.js';
import { UserError } from '../errors.js';
import type { ImageRecord } from '../../cache/store-types.js';
import type { PlannedStage, PlannedStep } from '../plan.js';
import type { StageRun } from '../stage-state.js';

export async function fromStep(s: Session, step: PlannedStep): Promise<StageRun> {
  const stage = s.plan.stages[step.stage]!;
  if (stage.base.kind === 'scratch') return { layers: [], chain: EMPTY_CHAIN, history: [] };
  if (stage.base.kind === 'stage') {
    const b = s.runs.get(stage.base.stage)!;
    if (s.dirtyStages.has(stage.base.stage)) s.dirtyStages.set(step.stage, s.dirtyStages.get(stage.base.stage)!);
    return { layers: [...b.layers], chain: b.chain, history: [...b.history], ...(b.view ? { view: b.view } : {}) };
  }
  // `oci-layout://DIR[:TAG]` (relative to the Dockerfile's folder) is imported into the store on first use.
  const ref = stage.base.ref;
  let image = ref.startsWith('oci-layout://') ? await layoutBase(s, ref) : s.store.getImage(normalizeRef(ref));
  // A base only the exporting machine had, carried by a --cache-from cache: its layers come in
  // when something needs their bytes.
  const carried = image ? undefined : s.remoteCache?.base(ref);
  if (carried) {
    s.remoteCache!.needLayers(carried.layers);
    image = carried;
  }
  // A registry base used lazily whose blobs then failed their checks: pulled as without a cache.
  if (!image && !s.opts.dryRun && s.remoteCache?.lazyBaseFailed(ref)) image = await pullBase(s, ref, stage);
  if (image) s.baseImages?.set(stage.index, image);
  if (!image && s.opts.dryRun) {
    // `stratum plan` does not pull: what follows a base it would pull is unknown.
    s.dirtyStages.set(step.stage, step.index);
    return { layers: [], chain: EMPTY_CHAIN, history: [] };
  }
  if (!image) {
    throw stepError(s, step, 'NO_IMAGE', `base image "${ref}" is not in the local store`, `pull it with \`stratum pull ${ref}\`, build it with \`stratum build -t ${ref} …\`, import it with \`stratum load\`, or start from FROM scratch`);
  }
  return { layers: [...image.layers], chain: image.chain, history: [...image.history] };
}

/** `oci-layout://DIR[:TAG]`, imported on first use; undefined when DIR is not there and a
 *  --cache-from cache carries the base (the caller takes it from there). */
async function layoutBase(s: Session, ref: string): Promise<ImageRecord | undefined> {
  const { resolveOciLayoutBase } = await import('../oci/import.js');
  try {
    return await resolveOciLayoutBase(s.store, ref, resolve(s.dockerfileDir));
  } catch (err) {
    if (err instanceof UserError && err.code === 'IMPORT_NOT_A_LAYOUT' && s.remoteCache?.base(ref)) return undefined;
    throw err;
  }
}

/** Pull a registry base now (engine/pull-image.ts), as the pre-plan pass would have. Its
 *  config is the one the plan used: the lazy base's came from the same verified manifest. */
async function pullBase(s: Session, ref: string, stage: PlannedStage): Promise<ImageRecord> {
  const { pullImage } = await import('../pull-image.js');
  const { basePlatform } = await import('../resolve-bases.js');
  const platform = basePlatform(stage, s.opts.platform);
  const insecure = s.opts.insecureRegistries;
  const r = await pullImage(s.store, ref, { ...(platform ? { platform } : {}), ...(insecure ? { insecure } : {}) });
  s.lease?.add({ layers: r.image.layers });
  s.bus.emit({ type: 'warning', message: `pulled ${ref}: ${r.manifestDigest}`, file: s.display, line: stage.steps[0]?.line ?? 0 });
  return { ...r.image, name: ref };
}
