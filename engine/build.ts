/**
 * The build: plan the Dockerfile, run the needed stages as a DAG (engine/solver.ts:
 * independent stages at once, up to `jobs`), each stage's steps in order
 * (engine/stage-runner.ts), then tag and publish the target. Events go to the bus; nothing
 * is printed here.
 */
import { availableParallelism } from 'node:os';
import { realpathSync } from 'node:fs';
import { dirname, relative, resolve, sep } from 'node:path';
import type { StepKey } from '../cache/digest.js';
import type { ImageRecord, Store } from '../cache/store-types.js';
import type { LayerOrigin } from '../cache/layer-origin.js';
import { createdAt, type Session } from './build-session.js';
import { ContextReader } from './context.js';
import { loadDockerignore } from './dockerignore.js';
import { EXIT, toUserError, UserError } from './errors.js';
import type { BuildError, EventBus, StepInfo } from './events.js';
import type { Executor, ExecutorKind } from './executor-types.js';
import { executorKind, makeExecutor } from './executors/choose.js';
import type { Lease } from '../cache/leases.js';
import { imageConfig } from './image-history.js';
import { loadDockerfile, normalizeRef } from './load.js';
import { publishLocal } from './output-local.js';
import { stratumEnv } from './env.js';
import { preflight } from './preflight.js';
import { basesToPull, resolveBases } from './resolve-bases.js';
import type { RemoteCache } from './cache-import.js';
import type { Plan, PlannedStage } from './plan.js';
import { solve } from './solver.js';
import type { SecretSource } from './run-mounts.js';
import { formatPlatform, type Platform } from './platform.js';
import { ociPlatform } from './step-key.js';
import { runStage } from './stage-runner.js';
import { viewOf, type StageRun } from './stage-state.js';
import { openStepHistory } from './step-history.js';
import type { StepOutcome } from './steps/step-outcome.js';
import type { StepMemo } from './steps/cached-step.js';

/** Where a finished build is published. `oci` and `docker` are image archives (a .tar file, or
 *  an OCI layout directory when `tar` is false), written by engine/oci/export.ts. */
export type OutputSpec = { type: 'local'; dest: string } | { type: 'oci' | 'docker'; dest: string; tar: boolean };

/** `--cache-to` / `--cache-from`: a registry reference, or an OCI layout directory. */
export type CacheSpec = ({ type: 'registry'; ref: string } | { type: 'local'; dir: string }) & {
  mode: 'min' | 'max';
  /** `--cache-to …,cache-mounts=true`: export the `RUN --mount=type=cache` directories too. */
  cacheMounts?: boolean;
};

export interface BuildOptions {
  store: Store;
  bus: EventBus;
  contextDir: string;
  dockerfile: string;
  buildArgs?: Record<string, string>;
  target?: string;
  noCache?: boolean;
  tags?: string[];
  outputs?: OutputSpec[];
  signal?: AbortSignal;
  /** Build number (watch mode counts up). */
  build?: number;
  hostEnv?: NodeJS.ProcessEnv;
  /** Secrets for `RUN --mount=type=secret` (`--secret id=ID,src=FILE|env=VAR`). */
  secrets?: Record<string, SecretSource>;
  /** `--ssh`: agent sockets by id, for `RUN --mount=type=ssh`. */
  ssh?: Record<string, string>;
  /** Host variables a host-tools or sandboxed RUN may see (`--env-pass NAME`). */
  envPass?: string[];
  /** The platform built for (`--platform`); default the host's. */
  platform?: Platform;
  /** `sandbox` (the default) or `host` (no isolation, opt-in). */
  executor?: 'sandbox' | 'host';
  /** Stages run at once at most (`--jobs`); default the number of cores. */
  jobs?: number;
  /** SOURCE_DATE_EPOCH, validated by the caller: image history timestamps. */
  sourceDateEpoch?: number;
  /** Reuse a context reader across builds (watch mode). */
  context?: ContextReader;
  /** A source file that changes while it is copied cancels the build (result.changedDuring)
   *  instead of failing it: watch mode, where the change starts the build that replaces it. */
  changedIsStale?: boolean;
  /** Grace period between SIGTERM and SIGKILL when a RUN is cancelled. */
  killGraceMs?: number;
  /** Compute keys and report hits and misses without executing anything (`stratum plan`).
   *  After a miss, later steps of that stage are reported as misses too: their input is unknown. */
  dryRun?: boolean;
  /** Put the store's total size in build-done (costs a stat of every store folder). */
  reportStoreSize?: boolean;
  /** Watch mode: a dry run records each step's inputs, key and miss reason here, and the real
   *  build that follows it (from the same context reader, nothing changed since) reuses those
   *  whose parent chain, text and config are the same, instead of keying the prefix twice. */
  keyMemo?: Map<number, StepMemo>;
  /** Called with each step's cache key as soon as it is known (watch mode's staleness check). */
  onStepKey?: (index: number, key: StepKey) => void;
  /** `--pull`: ask the registry for every registry base even when the store has it. */
  pull?: boolean;
  /** `--insecure-registry HOST`: registries reached over plain http:// (loopback always is). */
  insecureRegistries?: string[];
  /** `--push` and `-o type=registry,name=…`: references the image is pushed to. */
  push?: string[];
  /** `--cache-to`: where this build's step cache is exported. */
  cacheTo?: CacheSpec[];
  /** `--cache-from`: step caches looked up on a local miss (engine/cache-import.ts). */
  cacheFrom?: CacheSpec[];
}

export interface BuildResult {
  ok: boolean;
  exitCode: number;
  cancelled: boolean;
  /** Layers of `image` the store has as blobs only (a --cache-from hit shipped to an OCI
   *  output, engine/cache-import.ts blobsOf): what imageDigests() needs for them. */
  blobOrigins?: ReadonlyMap<string, LayerOrigin>;
  /** Cancelled because this file (an absolute path) changed while it was copied (changedIsStale). */
  changedDuring?: string;
  error?: UserError;
  hits: number;
  misses: number;
  ms: number;
  savedMs: number;
  image?: ImageRecord;
  /** Keys of the steps in plan order (undefined for metadata steps): watch mode compares them. */
  keys: (StepKey | undefined)[];
  /** References pushed (`--push`, `-o type=registry`) with their manifest digests. */
  pushed?: { name: string; digest: string }[];
}

export async function build(opts: BuildOptions): Promise<BuildResult> {
  const t0 = performance.now();
  const { store, bus } = opts;
  const buildNo = opts.build ?? 1;
  const counters = { hits: 0, misses: 0, savedMs: 0 };
  const keys: (StepKey | undefined)[] = [];
  /** What this build stands on (cache/leases.ts), and the executors whose workspaces it holds:
   *  released when it ends, however it ends. */
  let lease: Lease | undefined;
  const executorsHeld: Executor[] = [];
  // --cache-from (opened below, before planning); declared here for releaseAll.
  let remoteCache: RemoteCache | undefined;
  const releaseAll = async () => {
    for (const ex of executorsHeld.splice(0)) await ex.close?.();
    await remoteCache?.drain();
    lease?.release();
    lease = undefined;
  };
  const done = async (r: Partial<BuildResult> & { ok: boolean; exitCode: number }): Promise<BuildResult> => {
    await releaseAll();
    const result: BuildResult = { cancelled: false, ...counters, keys, ...r, ms: performance.now() - t0 };
    // Only a UI that shows it pays for it: in a new process it stats the whole store
    // (58 ms of a warm 10k-file build, bench/RESULTS.md finding 2).
    let storeSize: number | undefined;
    if (opts.reportStoreSize) {
      try {
        storeSize = store.size();
      } catch {
        storeSize = undefined;
      }
    }
    bus.emit({
      type: 'build-done',
      build: buildNo,
      ok: result.ok,
      hits: counters.hits,
      misses: counters.misses,
      ms: Math.round(result.ms),
      savedMs: Math.round(counters.savedMs),
      ...(result.cancelled ? { cancelled: true } : {}),
      ...(result.error ? { error: buildError(result.error) } : {}),
      ...(storeSize !== undefined ? { storeSize } : {}),
      ...(r.ok && opts.outputs?.length ? { outputs: opts.outputs.map((o) => o.dest) } : {}),
      ...(r.pushed?.length ? { pushed: r.pushed } : {}),
      ...(r.ok && opts.tags?.length ? { tags: opts.tags } : {}),
      ...(r.ok && result.image ? { image: result.image.chain } : {}),
    });
    return result;
  };

  // The environment, the store, -t and -o are checked before any step runs: a bad value is
  // the user's error, still with a build-done event.
  try {
    await preflight(opts);
  } catch (err) {
    const error = toUserError(err);
    if (!error) throw err;
    return done({ ok: false, exitCode: error.exitCode, error });
  }
  const sourceDateEpoch = opts.sourceDateEpoch ?? stratumEnv().sourceDateEpoch;

  let contextReal: string;
  try {
    contextReal = realpathSync(opts.contextDir);
  } catch {
    const error = new UserError('NO_CONTEXT', `build context ${opts.contextDir} does not exist`, 'pass an existing directory as the context (the last argument)', EXIT.usage, undefined, opts.contextDir);
    return done({ ok: false, exitCode: error.exitCode, error });
  }
  const dockerfileReal = resolve(opts.dockerfile);
  const display = relative(process.cwd(), dockerfileReal) || dockerfileReal;

  const historyId = `${contextReal}\0${dockerfileReal}`;
  if (!opts.dryRun) lease = store.openLease(`build ${historyId.replace('\0', ' ')}`);
  // Opened before planning: a cache can carry a base image that only its exporter had.
  if (opts.cacheFrom?.length && !opts.noCache) {
    const { openRemoteCache } = await import('./cache-import.js');
    remoteCache = await openRemoteCache(opts.cacheFrom, { store, bus, lease, insecure: opts.insecureRegistries });
  }
  const carried = remoteCache ? (ref: string) => remoteCache.base(ref)?.config : undefined;

  let plan: Plan;
  try {
    const load = () => loadDockerfile(dockerfileReal, display, { buildArgs: opts.buildArgs ?? {}, ...(opts.target !== undefined ? { target: opts.target } : {}), ...(opts.platform ? { platform: opts.platform } : {}), store, ...(carried ? { carried } : {}) }).plan;
    plan = load();
    // A registry base a --cache-from cache knows, whose reference still names the manifest the
    // cache was built on, is used lazily (engine/cache-registry-base.ts) instead of pulled.
    const lazy = remoteCache ? await remoteCache.resolveRegistryBases(basesToPull(plan, { store, pull: opts.pull, platform: opts.platform }), opts.insecureRegistries) : undefined;
    if (lazy?.size) plan = load();
    // Registry bases the store lacks are pulled before planning (the planner needs their config).
    if (await resolveBases(plan, { store, bus, platform: opts.platform, pull: opts.pull, insecureRegistries: opts.insecureRegistries, dryRun: opts.dryRun, display, ...(lazy ? { skip: lazy } : {}) })) plan = load();
  } catch (err) {
    const error = toUserError(err);
    if (error) return done({ ok: false, exitCode: error.exitCode, error });
    throw err;
  }
  for (const w of plan.warnings) bus.emit({ type: 'warning', message: w, file: display });

  // An output directory inside the context is never part of it (or every build would change it).
  const excluded = (opts.outputs ?? []).map((o) => relative(contextReal, resolve(o.dest))).filter((r) => r !== '' && !r.startsWith('..') && !r.startsWith(sep));
  // A reader of its own is this build's alone: it keeps no entry per file (watch lends one that does).
  const ctx = opts.context ?? new ContextReader(contextReal, loadDockerignore(contextReal, dockerfileReal), store, excluded.map((r) => r.split(sep).join('/')), { retain: false });

  const infos: StepInfo[] = plan.steps.map((s) => ({
    index: s.index,
    total: plan.steps.length,
    stage: s.stageName,
    stageIndex: s.stageIndex,
    stageTotal: s.stageTotal,
    instruction: s.text,
    line: s.line,
  }));
  for (let i = 0; i < plan.steps.length; i++) keys.push(undefined);
  bus.emit({ type: 'build-start', build: buildNo, target: plan.stages[plan.target]!.label, steps: infos, time: Date.now(), dockerfile: display });

  const executors = new Map<number, Executor>();
  const choice = opts.executor ?? stratumEnv().executor ?? 'sandbox';
  const session: Session = {
    opts,
    store,
    bus,
    plan,
    ctx,
    display,
    dockerfileDir: dirname(dockerfileReal),
    historyId,
    infos,
    keys,
    counters,
    runs: new Map(),
    dirtyStages: new Map(),
    dryLayers: new Map(),
    history: openStepHistory(store, historyId, plan, { contextDir: contextReal, ...(lease ? { lease } : {}) }),
    lease,
    created: createdAt(sourceDateEpoch),
    ...(remoteCache ? { remoteCache } : {}),
    ...(remoteCache && blobsOnly(opts) ? { prefetchStages: imageStages(plan) } : {}),
    ...(opts.cacheTo?.length ? { stepRecords: new Map(), baseImages: new Map() } : {}),
    platform: opts.platform ? formatPlatform(opts.platform) : ociPlatform(),
    executorKind: (step) => executorKind(plan, step.stage, choice),
    executorFor(_run: StageRun | undefined, step) {
      let ex = executors.get(step.stage);
      if (!ex) {
        ex = makeExecutor(executorKind(plan, step.stage, choice), store, bus, { id: `${historyId}\0${step.stageName}`, stage: step.stageName, contextDir: contextReal });
        executors.set(step.stage, ex);
        executorsHeld.push(ex);
      }
      return ex;
    },
  };

  // A RUN this store has no earlier build of (or --no-cache) is about to run: its stage's
  // executor starts loading now, beside the keys and lookups before it (engine/executors/choose.ts).
  if (!opts.dryRun) {
    for (const st of plan.stages) {
      const run = st.needed ? st.steps.find((x) => x.instr.kind === 'RUN') : undefined;
      if (run && (opts.noCache || !session.history.previousKey(run))) session.executorFor(undefined, run).warm?.();
    }
  }

  let outcome: StepOutcome;
  try {
    outcome = await runPasses(session, remoteCache, buildNo);
    if (outcome.kind === 'ok' && !opts.dryRun) {
      const image = await publish(session);
      const pushed: { name: string; digest: string }[] = [];
      if (opts.push?.length) {
        const { pushImage } = await import('./push-image.js');
        for (const name of opts.push) {
          const r = await pushImage(store, image, name, opts.insecureRegistries ? { insecure: opts.insecureRegistries } : {});
          pushed.push({ name: r.name, digest: r.digest });
        }
      }
      if (opts.cacheTo?.length) {
        const { exportCache } = await import('./cache-export.js');
        for (const spec of opts.cacheTo) {
          const r = await exportCache(session, spec);
          bus.emit({ type: 'warning', message: `cache exported to ${spec.type === 'local' ? spec.dir : spec.ref} (mode=${spec.mode}): ${r.entries} steps, ${r.layers} layers${r.mounts ? `, ${r.mounts} cache mounts` : ''}${r.digest ? `, ${r.digest}` : ''}` });
        }
      }
      return done({ ok: true, exitCode: EXIT.ok, image, ...(pushed.length ? { pushed } : {}), ...(session.blobOrigins ? { blobOrigins: session.blobOrigins } : {}) });
    }
  } catch (err) {
    const error = toUserError(err);
    if (!error) {
      await releaseAll();
      throw err;
    }
    outcome = { kind: 'failed', error };
  } finally {
    session.history.flush();
    // A dry run on a reader it was lent (watch mode's re-key) leaves the stat cache to its
    // owner: writing the 10k-row document is not on the way from a save to the first step.
    if (!(opts.dryRun && opts.context)) ctx.save();
  }
  if (outcome.kind === 'ok') return done({ ok: true, exitCode: EXIT.ok });
  if (outcome.kind === 'cancelled') return done({ ok: false, exitCode: EXIT.stepFailed, cancelled: true, ...(outcome.changed !== undefined ? { changedDuring: outcome.changed } : {}) });
  return done({ ok: false, exitCode: outcome.error.exitCode, error: outcome.error });
}

/** Whether every output is an OCI layout or archive and nothing else keeps the image: then
 *  a --cache-from hit's layer need not be unpacked (RemoteCache.blobsOf). */
function blobsOnly(opts: BuildOptions): boolean {
  const outs = opts.outputs ?? [];
  return outs.length > 0 && outs.every((o) => o.type === 'oci') && !opts.tags?.length && !opts.push?.length && !opts.cacheTo?.length;
}

/** The target stage and the stages it is FROM, transitively: those whose layers the image holds. */
function imageStages(plan: Plan): Set<number> {
  const out = new Set<number>();
  for (let st: PlannedStage | undefined = plan.stages[plan.target]; st && !out.has(st.index); st = st.base.kind === 'stage' ? plan.stages[st.base.stage] : undefined) out.add(st.index);
  return out;
}

/** A pass per remote layer that failed to come in, at most (each one leaves a blob out). */
const MAX_PASSES = 16;

/**
 * Run the stages, and bring in the remote layers that tags, outputs, pushes and cache exports
 * need. When a --cache-from layer fails verification on the way (engine/cache-import.ts), the
 * stages run again without it: what came in is a local hit now, and the step whose layer
 * failed builds, as do the steps after it whose inputs it changes.
 */
async function runPasses(s: Session, remote: RemoteCache | undefined, buildNo: number): Promise<StepOutcome> {
  const { opts } = s;
  for (let pass = 1; ; pass++) {
    let outcome: StepOutcome;
    try {
      outcome = await runStages(s, opts.signal);
      if (outcome.kind === 'ok' && !opts.dryRun && remote) {
        // Outputs that ship blobs only (OCI) take the cache's blobs as they are; anything that
        // reads files or keeps the image (a directory, a docker-archive, a tag, a push, a cache
        // export) has the layers brought in whole.
        if (blobsOnly(opts)) s.blobOrigins = await remote.blobsOf((s.runs.get(s.plan.target) as StageRun).layers);
        else if (opts.tags?.length || opts.outputs?.length || opts.push?.length || opts.cacheTo?.length) await remote.materialize();
      }
    } catch (err) {
      if (!(err instanceof UserError && err.code === 'CACHE_FALLBACK')) throw err;
      outcome = { kind: 'failed', error: err };
    }
    if (outcome.kind !== 'failed' || !remote?.takeFallback() || pass >= MAX_PASSES || opts.signal?.aborted) return outcome;
    s.runs.clear();
    s.dirtyStages.clear();
    s.keys.fill(undefined);
    s.stepRecords?.clear();
    Object.assign(s.counters, { hits: 0, misses: 0, savedMs: 0 });
    s.bus.emit({ type: 'build-start', build: buildNo, target: s.plan.stages[s.plan.target]!.label, steps: s.infos, time: Date.now(), dockerfile: s.display });
  }
}

/** The error of build-done: message, hint, code, and the Dockerfile position when it has one. */
function buildError(err: UserError): BuildError {
  const d = err.diagnostic;
  return {
    message: err.message,
    ...(err.hint ? { hint: err.hint } : {}),
    code: err.code,
    ...(d ? { file: d.file, line: d.line, column: d.column, length: d.length } : {}),
  };
}

/** Run the needed stages as a DAG; the first failure is the build's. */
async function runStages(s: Session, signal: AbortSignal | undefined): Promise<StepOutcome> {
  const needed = s.plan.stages.filter((st) => st.needed);
  const tasks = needed.map((st) => ({
    id: st.index,
    deps: stageDeps(s.plan, st),
    run: async (sig: AbortSignal) => {
      const value = await runStage(s, st, sig);
      return { ok: value.kind === 'ok', value };
    },
  }));
  const jobs = s.opts.jobs ?? stratumEnv().jobs ?? availableParallelism();
  const r = await solve(tasks, { jobs, ...(signal ? { signal } : {}) });
  if (r.ok) return { kind: 'ok' };
  if (r.failed !== undefined) return r.results.get(r.failed)!.value;
  return { kind: 'cancelled' };
}

/** The stages a stage needs before it starts: its FROM stage, and the sources of its
 *  `COPY --from` and `RUN --mount=from=`. */
export function stageDeps(plan: Plan, st: PlannedStage): number[] {
  const deps = new Set<number>();
  if (st.base.kind === 'stage') deps.add(st.base.stage);
  for (const step of st.steps) {
    const from = plan.copyFrom.get(step);
    if (from !== undefined) deps.add(from);
    if (step.instr.kind === 'RUN') {
      for (const m of step.instr.mounts) {
        if (m.from === undefined) continue;
        const src = plan.stages.find((o) => o.index < st.index && (o.name === m.from!.toLowerCase() || String(o.index) === m.from));
        if (src) deps.add(src.index);
      }
    }
  }
  return [...deps];
}

/** Tag the target's image and write the outputs. */
async function publish(s: Session): Promise<ImageRecord> {
  const { store, opts, plan } = s;
  const target = plan.stages[plan.target]!;
  const final = s.runs.get(plan.target)! as StageRun;
  const image: ImageRecord = {
    name: '',
    layers: final.layers,
    chain: final.chain,
    config: imageConfig(target.final),
    history: final.history,
    created: s.created(Date.now()),
    ...(opts.platform ? { platform: { ...opts.platform } } : {}),
  };
  for (const tag of opts.tags ?? []) store.putImage({ ...image, name: normalizeRef(tag) });
  for (const out of opts.outputs ?? []) {
    if (out.type === 'local') publishLocal(store, viewOf(store, final), final.chain, resolve(out.dest));
    else {
      const { exportImage } = await import('./oci/export.js');
      await exportImage(store, { ...image, name: normalizeRef(opts.tags?.[0] ?? 'stratum-build:latest') }, out, s.blobOrigins ? { origins: s.blobOrigins } : {});
    }
  }
  return image;
}
