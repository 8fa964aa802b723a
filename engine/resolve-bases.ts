/**
 * The pre-plan pass of a build: the planner needs each base image's config (ENV, WORKDIR,
 * USER …) before it can key a step, so image bases it cannot find in the store are pulled
 * first (engine/pull-image.ts), and the Dockerfile is planned again. `--pull` pulls every
 * registry base even when the store has it. A dry run (`stratum plan`) never pulls: it says
 * "would pull", and the stage's steps are planned against an empty config.
 */
import { UserError } from './errors.js';
import type { Store } from '../cache/store-types.js';
import type { EventBus } from './events.js';
import { isOciLayoutRef } from './oci/layout-read.js';
import type { Plan, PlannedStage } from './plan.js';
import { hostPlatform, parsePlatform, type Platform } from './platform.js';
import { platformMatches } from './registry/platform.js';
import { normalizeRef } from './load.js';

/** engine/pull-image.ts's record of pulled images (not imported from there: it loads the client). */
const REGISTRY_IMAGES = 'registry-images';
import { parseReference } from './registry/reference.js';

export interface ResolveBasesOptions {
  store: Store;
  bus: EventBus;
  platform?: Platform | undefined;
  pull?: boolean | undefined;
  insecureRegistries?: string[] | undefined;
  dryRun?: boolean | undefined;
  display: string;
  /** References not to pull: registry bases a --cache-from cache serves lazily. */
  skip?: ReadonlySet<string>;
}

/** The platform a stage's FROM asks for (`FROM --platform=…`), else the build's. */
export function basePlatform(st: PlannedStage, platform: Platform | undefined): Platform | undefined {
  const from = st.steps[0]?.instr;
  const flag = from && from.kind === 'FROM' ? from.platform : undefined;
  return (flag !== undefined && !flag.includes('$') ? parsePlatform(flag) : undefined) ?? platform;
}

/** Registry images the needed stages use, to fetch: their FROM bases (with the platform the
 *  FROM asks for) and the images they COPY or mount from. */
export function basesToPull(plan: Plan, opts: { pull?: boolean | undefined; platform?: Platform | undefined; store?: Store }): { ref: string; platform?: Platform; line: number; use?: string }[] {
  const out = new Map<string, { ref: string; platform?: Platform; line: number; use?: string }>();
  for (const st of plan.stages) {
    if (!st.needed || st.base.kind !== 'image') continue;
    const ref = st.base.ref;
    if (isOciLayoutRef(ref)) continue;
    const platform = basePlatform(st, opts.platform);
    // The store holds one platform per name: a base pulled for another platform is pulled again.
    const pulledFor = opts.store?.readDoc<{ platform?: string }>(REGISTRY_IMAGES, normalizeRef(ref))?.platform;
    const had = pulledFor !== undefined ? parsePlatform(pulledFor) : undefined;
    const otherPlatform = had !== undefined && !platformMatches(platform ?? hostPlatform(), had);
    if (st.base.available && !opts.pull && !otherPlatform) continue;
    if (!out.has(ref)) out.set(ref, { ref, ...(platform ? { platform } : {}), line: st.steps[0]?.line ?? 0 });
  }
  // `COPY --from=<image>` and `RUN --mount=type=bind,from=<image>`: an image that is not a stage
  // and not in the store is pulled, as Docker pulls it (for the build's target platform).
  for (const st of plan.stages) {
    if (!st.needed) continue;
    for (const step of st.steps) {
      const refs: string[] = [];
      if ((step.instr.kind === 'COPY' || step.instr.kind === 'ADD') && step.instr.from !== undefined && !plan.copyFrom.has(step)) refs.push(step.instr.from);
      if (step.instr.kind === 'RUN') {
        for (const [k, m] of step.instr.mounts.entries()) if (m.type === 'bind' && m.from !== undefined && !plan.mountFrom.get(step)?.has(k)) refs.push(m.from);
      }
      for (const ref of refs) {
        if (isOciLayoutRef(ref) || out.has(ref) || ref.includes('$')) continue;
        if (!opts.pull && opts.store?.getImage(normalizeRef(ref))) continue;
        out.set(ref, { ref, ...(opts.platform ? { platform: opts.platform } : {}), line: step.line, use: step.instr.kind === 'RUN' ? 'mounted' : 'copied from' });
      }
    }
  }
  return [...out.values()];
}

/** Pull what `basesToPull` names; returns whether anything was pulled (then plan again). */
export async function resolveBases(plan: Plan, opts: ResolveBasesOptions): Promise<boolean> {
  const todo = basesToPull(plan, opts).filter((b) => !opts.skip?.has(b.ref));
  let pulled = false;
  for (const b of todo) {
    const registry = parseReference(b.ref).registry;
    if (opts.dryRun) {
      opts.bus.emit({ type: 'warning', message: `would pull ${b.ref} from ${registry} (stratum plan does not pull; steps after it are planned without its config)`, file: opts.display, line: b.line });
      continue;
    }
    const { pullImage } = await import('./pull-image.js');
    let r;
    try {
      r = await pullImage(opts.store, b.ref, { ...(b.platform ? { platform: b.platform } : {}), ...(opts.insecureRegistries ? { insecure: opts.insecureRegistries } : {}) });
    } catch (err) {
      // Say what the build needed, then what the registry said.
      if (err instanceof UserError) {
        throw new UserError(err.code, `${b.use ? `image "${b.ref}" (${b.use} on line ${b.line})` : `base image "${b.ref}"`} is not in the local store, and pulling it failed: ${err.message}`, `${err.hint ? `${err.hint}; ` : ''}or build it with \`stratum build -t ${b.ref} …\`, import it with \`stratum load\`, or start from FROM scratch`, err.exitCode, err.diagnostic, err.path);
      }
      throw err;
    }
    opts.bus.emit({ type: 'warning', message: `pulled ${b.ref} from ${registry}: ${r.manifestDigest}`, file: opts.display, line: b.line });
    pulled = true;
  }
  return pulled;
}
