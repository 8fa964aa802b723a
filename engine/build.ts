/**
 * The build: for each step of the plan, compute its key; a hit reuses the cached layer, a miss
 * executes the step, snapshots its layer and commits it (blobs, layer, then key). Events go to
 * the bus; nothing is printed here.
 */
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { relative, resolve, sep } from 'node:path';
import { asBlobDigest, EMPTY_CHAIN, type BlobDigest, type ChainDigest, type LayerDigest, type StepKey } from '../cache/digest.js';
import { xxh64 } from '../cache/hash.js';
import { layerDigest, normalizeEntries } from '../cache/layer-digest.js';
import type { Layer, LayerEntry } from '../cache/layer-types.js';
import { StoreError, type HistoryEntry, type ImageRecord, type KeyRecord, type Store } from '../cache/store-types.js';
import { ContextError, ContextReader } from './context.js';
import { copyFromContext, copyFromView, CopyError, type CopyResult } from './copy.js';
import { loadDockerignore } from './dockerignore.js';
import type { Instruction } from './dockerfile/types.js';
import { EXIT, UserError } from './errors.js';
import { type EventBus, type MissReason, type StepInfo } from './events.js';
import { runCommand, LOG_TAIL_LINES } from './executor.js';
import { explainMiss, type PreviousStep } from './explain-miss.js';
import { loadDockerfile, normalizeRef } from './load.js';
import { runEnv, type Plan, type PlannedStep, type ConfigState } from './plan.js';
import { filesDigest, KEY_SCHEMA, stepKey, type FileRow, type KeyRecordV1 } from './step-key.js';
import { chainDigest, mergeChain } from './union-view.js';
import { Workspace, WORKSPACES, type ViewLike } from './workspace.js';
import { MAX_SLOTS } from '../cache/owned-dirs.js';
import type { Lease } from '../cache/leases.js';
import { publishLocal } from './output-local.js';
import { mountCaches } from './cache-mounts.js';

/** Where a finished build is published. `oci` and `docker` are image archives (a .tar file, or
 *  an OCI layout directory when `tar` is false), written by engine/oci/export.ts. */
export type OutputSpec = { type: 'local'; dest: string } | { type: 'oci' | 'docker'; dest: string; tar: boolean };

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
  /** Reuse a context reader across builds (watch mode). */
  context?: ContextReader;
  /** Grace period between SIGTERM and SIGKILL when a RUN is cancelled. */
  killGraceMs?: number;
  /** Compute keys and report hits and misses without executing anything (`stratum plan`).
   *  After a miss, later steps of that stage are reported as misses too: their input is unknown. */
  dryRun?: boolean;
  /** Put the store's total size in build-done (costs a stat of every store folder). */
  reportStoreSize?: boolean;
  /** Called with each step's cache key as soon as it is known (watch mode's staleness check). */
  onStepKey?: (index: number, key: StepKey) => void;
}

export interface BuildResult {
  ok: boolean;
  exitCode: number;
  cancelled: boolean;
  error?: UserError;
  hits: number;
  misses: number;
  ms: number;
  savedMs: number;
  image?: ImageRecord;
  /** Keys of the steps in plan order (undefined for metadata steps): watch mode compares them. */
  keys: (StepKey | undefined)[];
}

/** Per-stage state while building. */
interface StageRun {
  layers: LayerDigest[];
  chain: ChainDigest;
  history: HistoryEntry[];
  view?: ViewLike;
  workspace?: Workspace;
}

interface StepHistoryDoc {
  v: 1;
  /** `key`: the step's key, so prune keeps `filesBlob` exactly while that key is kept. */
  steps: Record<string, { record: KeyRecordV1; filesBlob?: string; key?: string }>;
}

const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export async function build(opts: BuildOptions): Promise<BuildResult> {
  const t0 = performance.now();
  const { store, bus } = opts;
  const buildNo = opts.build ?? 1;
  let hits = 0;
  let misses = 0;
  let savedMs = 0;
  const keys: (StepKey | undefined)[] = [];
  /** What this build stands on, for prune and verify (cache/leases.ts); opened below. */
  let lease: Lease | undefined;
  /** Workspace slots this build holds, released when it ends. */
  const held: Workspace[] = [];
  const releaseAll = () => {
    for (const ws of held.splice(0)) ws.release();
    lease?.release();
  };
  const done = (r: Partial<BuildResult> & { ok: boolean; exitCode: number }): BuildResult => {
    releaseAll();
    const result: BuildResult = { cancelled: false, hits, misses, savedMs, keys, ...r, ms: performance.now() - t0 };
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
      hits,
      misses,
      ms: Math.round(result.ms),
      savedMs: Math.round(savedMs),
      ...(result.cancelled ? { cancelled: true } : {}),
      ...(result.error ? { error: { message: result.error.message, ...(result.error.hint ? { hint: result.error.hint } : {}) } } : {}),
      ...(storeSize !== undefined ? { storeSize } : {}),
      ...(r.ok && opts.outputs?.length ? { outputs: opts.outputs.map((o) => o.dest) } : {}),
    });
    return result;
  };

  let contextReal: string;
  try {
    contextReal = realpathSync(opts.contextDir);
  } catch {
    const error = new UserError('NO_CONTEXT', `build context ${opts.contextDir} does not exist`, 'pass an existing directory as the context (the last argument)', EXIT.usage, undefined, opts.contextDir);
    return done({ ok: false, exitCode: error.exitCode, error });
  }
  const dockerfileReal = resolve(opts.dockerfile);
  const display = relative(process.cwd(), dockerfileReal) || dockerfileReal;

  let plan: Plan;
  try {
    plan = loadDockerfile(dockerfileReal, display, { buildArgs: opts.buildArgs ?? {}, ...(opts.target !== undefined ? { target: opts.target } : {}), store }).plan;
  } catch (err) {
    if (err instanceof UserError) return done({ ok: false, exitCode: err.exitCode, error: err });
    throw err;
  }
  for (const w of plan.warnings) bus.emit({ type: 'warning', message: w, file: display });

  // An output directory inside the context is never part of it (or every build would change it).
  const excluded = (opts.outputs ?? []).map((o) => relative(contextReal, resolve(o.dest))).filter((r) => r !== '' && !r.startsWith('..') && !r.startsWith(sep));
  const ctx = opts.context ?? new ContextReader(contextReal, loadDockerignore(contextReal, dockerfileReal), store, excluded.map((r) => r.split(sep).join('/')));

  const infos: StepInfo[] = plan.steps.map((s) => ({
    index: s.index,
    total: plan.steps.length,
    stage: s.stageName,
    stageIndex: s.stageIndex,
    stageTotal: s.stageTotal,
    instruction: s.text,
    line: s.line,
  }));
  bus.emit({ type: 'build-start', build: buildNo, target: plan.stages[plan.target]!.label, steps: infos, time: Date.now() });

  const historyId = `${contextReal}\0${dockerfileReal}`;
  if (!opts.dryRun) lease = store.openLease(`build ${historyId.replace('\0', ' ')}`);
  /** Lease the chain a stage stands on (after every step that changed it). */
  const leaseRun = (run: StageRun) => lease?.add({ layers: run.layers });
  const prevDoc = store.readDoc<StepHistoryDoc>('steps', historyId);
  const history: StepHistoryDoc = prevDoc?.v === 1 ? prevDoc : { v: 1, steps: {} };
  let historyDirty = false;

  const runs = new Map<number, StageRun>();
  /** Dry run: stages whose chain is unknown from a step on (stage → first missing step). */
  const dirtyStages = new Map<number, number>();
  /** Dry run: layers of COPY/WORKDIR misses, computed but not stored. */
  const dryLayers = new Map<LayerDigest, { entries: LayerEntry[] }>();
  /** The step being processed, for errors raised before it reports itself. */
  let current: StepInfo | undefined;
  let currentStarted = false;
  const viewOf = (run: StageRun): ViewLike => {
    if (!run.view) {
      let missing: LayerDigest | undefined;
      const view = mergeChain(run.layers, (d) => {
        const l = dryLayers.get(d) ?? store.getLayer(d);
        if (!l) missing = d;
        return l;
      });
      if (!view) throw new StoreError('EMISSING', `layer ${missing} is missing from the store`, { layer: missing });
      run.view = view;
    }
    return run.view;
  };
  /** A view merged only when first read: a COPY that hits may never need it. */
  const lazyView = (run: StageRun): ViewLike => ({
    get: (p) => viewOf(run).get(p),
    has: (p) => viewOf(run).has(p),
    keys: () => viewOf(run).keys(),
    get size() {
      return viewOf(run).size;
    },
    entries: () => viewOf(run).entries(),
  });
  const created = (ms: number) => rfc3339(process.env.SOURCE_DATE_EPOCH ? Number(process.env.SOURCE_DATE_EPOCH) * 1000 : ms);

  try {
    for (const step of plan.steps) {
      if (opts.signal?.aborted) return done({ ok: false, exitCode: EXIT.stepFailed, cancelled: true });
      const info = infos[step.index - 1]!;
      const ins = step.instr;
      const startedAt = performance.now();
      current = info;
      currentStarted = false;
      const start = (verdict: { cached?: boolean; reason?: string } = {}) => {
        currentStarted = true;
        bus.emit({ type: 'step-start', ...info, time: Date.now(), ...verdict });
      };
      if (!isFilesystemStep(ins)) start();

      if (ins.kind === 'FROM') {
        const stage = plan.stages[step.stage]!;
        let run: StageRun;
        if (stage.base.kind === 'scratch') run = { layers: [], chain: EMPTY_CHAIN, history: [] };
        else if (stage.base.kind === 'stage') {
          const b = runs.get(stage.base.stage)!;
          run = { layers: [...b.layers], chain: b.chain, history: [...b.history] };
        } else {
          // `oci-layout://DIR[:TAG]` (relative to the Dockerfile's folder) is imported into the store on first use.
          const image = stage.base.ref.startsWith('oci-layout://')
            ? await (await import('./oci/import.js')).resolveOciLayoutBase(store, stage.base.ref, resolve(dockerfileReal, '..'))
            : store.getImage(normalizeRef(stage.base.ref));
          if (!image) {
            throw stepError(step, 'NO_IMAGE', `base image "${stage.base.ref}" is not in the local store`, `stratum builds without a registry: build it first with \`stratum build -t ${stage.base.ref} …\`, import it with \`stratum load\`, or start from FROM scratch`);
          }
          run = { layers: [...image.layers], chain: image.chain, history: [...image.history] };
        }
        runs.set(step.stage, run);
        leaseRun(run);
        if (stage.base.kind === 'stage' && dirtyStages.has(stage.base.stage)) dirtyStages.set(step.stage, dirtyStages.get(stage.base.stage)!);
        keys.push(undefined);
        bus.emit({ type: 'step-done', ...info, cached: true, layer: null, size: 0, ms: Math.round(performance.now() - startedAt) });
        continue;
      }
      const run = runs.get(step.stage)!;

      if (!isFilesystemStep(ins)) {
        keys.push(undefined);
        run.history.push({ created: created(Date.now()), created_by: historyText(step), empty_layer: true });
        bus.emit({ type: 'step-done', ...info, cached: true, layer: null, size: 0, ms: Math.round(performance.now() - startedAt) });
        continue;
      }

      // --- key ---------------------------------------------------------------------------
      const identity = `${step.stageName}#${step.stageIndex}`;
      let copy: CopyResult | undefined;
      let fileRows: FileRow[] | undefined;
      const record: KeyRecordV1 = { schema: KEY_SCHEMA, op: ins.kind, parent: run.chain, instruction: '', flags: {} };
      if (ins.kind === 'RUN') {
        record.instruction = ins.exec ? JSON.stringify(ins.exec) : (ins.shell ?? '') + ins.heredocs.map((h) => `\n${h.content}${h.name}`).join('');
        if (ins.network) record.flags.network = ins.network;
        if (ins.security) record.flags.security = ins.security;
        const other = ins.mounts.filter((m) => m.type !== 'cache');
        if (other.length) record.flags.mount = JSON.stringify(other.map((m) => m.raw));
        const cacheMounts = ins.mounts.filter((m) => m.type === 'cache').map((m) => ({ target: m.target, id: m.id ?? m.target }));
        if (cacheMounts.length) record.cacheMounts = cacheMounts;
        record.env = runEnv(step.before);
        record.workdir = step.before.workdir;
        record.user = step.before.user;
        record.shell = step.before.shell;
      } else if (ins.kind === 'WORKDIR') {
        record.instruction = resolveWorkdirAfter(step);
      } else {
        record.instruction = `${ins.sources.join(' ')} ${ins.dest}`;
        if (ins.chmod) record.flags.chmod = ins.chmod;
        if (ins.chown) record.flags.chown = ins.chown;
        if (ins.link) record.flags.link = 'true';
        if (ins.exclude.length) record.flags.exclude = ins.exclude.join(',');
        record.workdir = step.before.workdir;
        const srcStage = plan.copyFrom.get(step);
        if (ins.from !== undefined) {
          let src: StageRun;
          if (srcStage !== undefined) src = runs.get(srcStage)!;
          else {
            const image = store.getImage(normalizeRef(ins.from));
            if (!image) throw stepError(step, 'NO_IMAGE', `COPY --from=${ins.from}: no stage or image by that name`, 'name a stage defined above (FROM … AS name), or an image in the local store');
            src = { layers: image.layers, chain: image.chain, history: [] };
          }
          record.sourceChain = src.chain;
          copy = copyFromView(ins, step.before.workdir, lazyView(src), lazyView(run));
          record.flags.from = 'stage';
          record.instruction += ` ${JSON.stringify(copy.fromPaths)}`;
        } else {
          copy = copyFromContext(ins, step.before.workdir, ctx, lazyView(run));
          fileRows = copy.rows;
          record.files = { digest: filesDigest(fileRows), count: fileRows.length };
        }
      }
      const key = stepKey(record);
      keys.push(key);
      opts.onStepKey?.(step.index, key);
      const fromStage = plan.copyFrom.get(step);
      if (opts.dryRun && fromStage !== undefined && dirtyStages.has(fromStage) && !dirtyStages.has(step.stage)) {
        dirtyStages.set(step.stage, dirtyStages.get(fromStage)!);
      }
      if (opts.dryRun && dirtyStages.has(step.stage)) {
        misses++;
        const why: MissReason = { kind: 'parent', text: `runs after step ${dirtyStages.get(step.stage)} rebuilds` };
        start({ cached: false, reason: why.text });
        bus.emit({ type: 'step-done', ...info, cached: false, layer: null, size: 0, ms: 0, reason: why.text, why });
        continue;
      }

      // --- hit ---------------------------------------------------------------------------
      const cached = opts.noCache ? undefined : store.getKey(key);
      if (cached) {
        lease?.add({ keys: [key], layers: cached.layer ? [cached.layer] : [] });
        start({ cached: true });
        hits++;
        savedMs += cached.durationMs;
        applyStepResult(run, cached.layer, cached.chain, false);
        run.history.push(historyEntry(step, cached.layer, store, created(cached.created)));
        rememberStep(identity, record, fileRows, key);
        bus.emit({ type: 'step-done', ...info, cached: true, layer: cached.layer, size: cached.layer ? (store.getLayer(cached.layer)?.size ?? 0) : 0, ms: Math.round(performance.now() - startedAt), savedMs: cached.durationMs });
        continue;
      }

      // --- miss: explain, execute, commit -------------------------------------------------
      misses++;
      const why: MissReason = opts.noCache ? { kind: 'no-cache-flag', text: 'cache disabled (--no-cache)' } : explainMiss(previousStep(identity), record, fileRows);
      start({ cached: false, reason: why.text });
      if (opts.dryRun) {
        if (ins.kind === 'RUN') {
          // A RUN's layer is unknown until it runs: what follows it in this stage is unknown too.
          dirtyStages.set(step.stage, step.index);
          bus.emit({ type: 'step-done', ...info, cached: false, layer: null, size: 0, ms: 0, reason: why.text, why });
          continue;
        }
        // COPY and WORKDIR layers follow from their inputs alone: compute them, store nothing.
        const entries = ins.kind === 'WORKDIR' ? workdirEntries(resolveWorkdirAfter(step), lazyView(run)) : copyEntries(copy!, ins, (c) => ({ digest: asBlobDigest(xxh64(c)), size: Buffer.byteLength(c) }));
        let layer: LayerDigest | null = null;
        if (entries.length) {
          const sorted = normalizeEntries(entries);
          layer = layerDigest(sorted);
          dryLayers.set(layer, { entries: sorted });
        }
        applyStepResult(run, layer, layer ? chainDigest(run.chain, layer) : run.chain, false);
        bus.emit({ type: 'step-done', ...info, cached: false, layer, size: 0, ms: 0, reason: why.text, why });
        continue;
      }
      let entries: LayerEntry[];
      if (ins.kind === 'RUN') {
        const res = await executeRun(step, ins, run);
        if (res === 'cancelled') {
          bus.emit({ type: 'step-cancelled', ...info, ms: Math.round(performance.now() - startedAt) });
          return done({ ok: false, exitCode: EXIT.stepFailed, cancelled: true });
        }
        if (!res.ok) {
          bus.emit({ type: 'step-failed', ...info, ms: Math.round(performance.now() - startedAt), message: res.message, hint: res.hint, exitCode: res.exitCode, signal: res.signal, logTail: res.tail });
          return done({ ok: false, exitCode: EXIT.stepFailed, error: new UserError('STEP_FAILED', `${display}:${step.line}: ${res.message}`, res.hint, EXIT.stepFailed) });
        }
        entries = res.entries;
        lease?.pending(entries.flatMap((e) => (e.type === 'file' ? [e.digest] : [])));
      } else if (ins.kind === 'WORKDIR') {
        entries = workdirEntries(resolveWorkdirAfter(step), lazyView(run));
      } else {
        // Leased before they are written: one may exist already, unreferenced, and a prune
        // must not take it between our "present" and our layer.
        lease?.pending(copy!.blobs.map((b) => b.digest));
        for (const b of copy!.blobs) store.writeBlobFromFile(b.abs, { digest: b.digest, size: b.size });
        entries = copyEntries(copy!, ins, (c) => store.writeBlob(Buffer.from(c)));
      }
      const layer: Layer | undefined = entries.length ? store.putLayer(entries) : undefined;
      if (layer) lease?.add({ layers: [layer.digest] });
      const chain = layer ? chainDigest(run.chain, layer.digest) : run.chain;
      const durationMs = Math.round(performance.now() - startedAt);
      const keyRecord: KeyRecord = { key, layer: layer?.digest ?? null, chain, record, created: Date.now(), durationMs };
      lease?.add({ keys: [key] });
      store.putKey(keyRecord);
      lease?.pending([]);
      if (ins.kind === 'RUN' && run.workspace) {
        // The workspace now holds exactly the new chain: the next RUN of this stage starts without a sync.
        run.workspace.commit(layer ? [...run.layers, layer.digest] : run.layers, chain);
      }
      applyStepResult(run, layer?.digest ?? null, chain, ins.kind === 'RUN');
      run.history.push(historyEntry(step, layer?.digest ?? null, store, created(keyRecord.created)));
      rememberStep(identity, record, fileRows, key);
      bus.emit({ type: 'step-done', ...info, cached: false, layer: layer?.digest ?? null, size: layer?.size ?? 0, ms: durationMs, reason: why.text, why });
    }

    current = undefined;
    if (opts.dryRun) {
      ctx.save();
      return done({ ok: true, exitCode: EXIT.ok });
    }
    // --- image, tags, outputs ----------------------------------------------------------------
    const target = plan.stages[plan.target]!;
    const final = runs.get(plan.target)!;
    const image: ImageRecord = { name: '', layers: final.layers, chain: final.chain, config: imageConfig(target.final), history: final.history, created: created(Date.now()) };
    for (const tag of opts.tags ?? []) store.putImage({ ...image, name: normalizeRef(tag) });
    for (const out of opts.outputs ?? []) {
      if (out.type === 'local') publishLocal(store, viewOf(final), final.chain, resolve(out.dest));
      else {
        const { exportImage } = await import('./oci/export.js');
        await exportImage(store, { ...image, name: normalizeRef(opts.tags?.[0] ?? 'stratum-build:latest') }, out);
      }
    }
    flushHistory();
    ctx.save();
    return done({ ok: true, exitCode: EXIT.ok, image });
  } catch (err) {
    flushHistory();
    ctx.save();
    const error = toUserError(err);
    if (!error) {
      releaseAll();
      throw err;
    }
    if (current) {
      // A step that failed before it ran (a COPY source missing, an unknown image…).
      if (!currentStarted) bus.emit({ type: 'step-start', ...current, time: Date.now() });
      bus.emit({ type: 'step-failed', ...current, ms: 0, message: error.message, ...(error.hint ? { hint: error.hint } : {}), logTail: [] });
    }
    return done({ ok: false, exitCode: error.exitCode, error });
  }

  // --- helpers that close over the build -------------------------------------------------------
  /** A user error located at a step's instruction in the Dockerfile. */
  function stepError(step: PlannedStep, code: string, message: string, hint: string): UserError {
    const n = step.instr.node;
    return new UserError(code, message, hint, EXIT.usage, { code, message, hint, file: display, line: n.startLine, column: n.column, length: n.original.length });
  }

  function previousStep(identity: string): PreviousStep | undefined {
    const prev = history.steps[identity];
    if (!prev) return undefined;
    let files: FileRow[] | undefined;
    if (prev.filesBlob) {
      try {
        const buf = store.readBlob(prev.filesBlob as never);
        if (buf) files = JSON.parse(buf.toString('utf8')) as FileRow[];
      } catch {
        files = undefined;
      }
    }
    return { record: prev.record, ...(files ? { files } : {}) };
  }

  function rememberStep(identity: string, record: KeyRecordV1, rows: FileRow[] | undefined, key: StepKey): void {
    const prev = history.steps[identity];
    if (prev && prev.key === key && JSON.stringify(prev.record) === JSON.stringify(record)) {
      // Same step: keep the file list, rewriting it only if a prune took it.
      if (!prev.filesBlob) return;
      lease?.add({ blobs: [prev.filesBlob] });
      if (store.hasBlob(asBlobDigest(prev.filesBlob))) return;
    }
    let filesBlob: string | undefined;
    if (rows) {
      filesBlob = store.writeBlob(Buffer.from(JSON.stringify(rows))).digest;
      lease?.add({ blobs: [filesBlob] });
    }
    history.steps[identity] = { record, key, ...(filesBlob ? { filesBlob } : {}) };
    historyDirty = true;
  }

  function flushHistory(): void {
    if (!historyDirty) return;
    // The file lists live while their keys do; the document while its context does.
    const blobs = Object.values(history.steps).flatMap((e) => (e.filesBlob && e.key ? [{ blob: e.filesBlob, key: e.key }] : []));
    store.writeDoc('steps', historyId, history, { paths: [contextReal], blobs });
    historyDirty = false;
  }

  /** The first free workspace slot of this (project, stage): a second build of the same
   *  project gets its own instead of sharing one; with every slot busy, it waits. */
  async function acquireWorkspace(step: PlannedStep): Promise<Workspace> {
    const id = `${historyId}\0${step.stageName}`;
    const t0 = performance.now();
    let waited = false;
    for (;;) {
      const owned = store.acquireDir(WORKSPACES, id, { slots: MAX_SLOTS, about: [contextReal] });
      if (owned) {
        const ws = new Workspace(store, owned);
        held.push(ws);
        if (waited || owned.slot > 0) bus.emit({ type: 'contention', resource: 'workspace', name: step.stageName, index: step.index, slot: owned.slot, waitedMs: waited ? Math.round(performance.now() - t0) : 0 });
        return ws;
      }
      waited = true;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function executeRun(
    step: PlannedStep,
    ins: Extract<Instruction, { kind: 'RUN' }>,
    run: StageRun,
  ): Promise<'cancelled' | { ok: true; entries: LayerEntry[] } | { ok: false; message: string; hint: string; exitCode: number | null; signal: string | null; tail: string[] }> {
    const ws = (run.workspace ??= await acquireWorkspace(step));
    const before = viewOf(run);
    ws.sync(run.layers, run.chain, before);
    const cwdRel = step.before.workdir.replace(/^\/+/, '');
    const cwd = resolve(ws.root, cwdRel);
    mkdirSync(cwd, { recursive: true });
    const argv = commandLine(ins, step.before);
    if (argv.script !== undefined) {
      // Beside the tree, not in it: the script is not part of the layer.
      const file = resolve(ws.dir, `heredoc-${step.index}.script`);
      writeFileSync(file, argv.script, { mode: 0o755 });
      argv.argv.push(file);
    }
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.hostEnv ?? process.env)) if (v !== undefined) env[k] = v;
    Object.assign(env, runEnv(step.before));
    const tail: string[] = [];
    await ws.beginRun();
    const caches = await mountCaches(store, ws.root, step.before.workdir, ins.mounts, {
      ...(lease ? { lease } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      onContention: (name, slot, waitedMs) => bus.emit({ type: 'contention', resource: 'cache-mount', name, index: step.index, slot, waitedMs }),
    });
    let res: Awaited<ReturnType<typeof runCommand>>;
    try {
      res = await runCommand({
        argv: argv.argv,
        cwd,
        env,
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.killGraceMs !== undefined ? { killGraceMs: opts.killGraceMs } : {}),
        onSpawn: (pid) => ws.recordChild(pid),
        onLine: (stream, line) => {
          tail.push(line);
          if (tail.length > LOG_TAIL_LINES) tail.shift();
          bus.emit({ type: 'step-log', index: step.index, stream, line });
        },
      });
    } finally {
      ws.recordChild(undefined);
      caches.release();
    }
    if (!res.ok) {
      ws.markDirty();
      run.view = undefined;
      if (res.cancelled) return 'cancelled';
      const what = res.spawnError ? `could not start ${argv.argv[0]}: ${res.spawnError}` : res.signal ? `RUN was killed by ${res.signal}` : `RUN exited with code ${res.exitCode}`;
      return {
        ok: false,
        message: what,
        hint: res.spawnError ? 'check SHELL and that the program exists on this machine (RUN executes on the host)' : 'see the output above; fix the command or its inputs and build again',
        exitCode: res.exitCode,
        signal: res.signal,
        tail,
      };
    }
    const snap = ws.snapshot(before, caches.skip);
    run.view = snap.after;
    return { ok: true, entries: snap.entries };
  }
}

/** A copy's layer entries, heredoc bodies turned into blobs by `blob`. */
function copyEntries(c: CopyResult, ins: Extract<Instruction, { kind: 'COPY' | 'ADD' }>, blob: (content: string) => { digest: BlobDigest; size: number }): LayerEntry[] {
  const entries = [...c.entries];
  for (const i of c.inline) {
    const w = blob(i.content);
    entries.push({ path: i.path, type: 'file', mode: ins.chmod ? parseInt(ins.chmod, 8) : 0o644, size: w.size, digest: w.digest });
  }
  return entries;
}

function isFilesystemStep(ins: Instruction): ins is Extract<Instruction, { kind: 'RUN' | 'COPY' | 'ADD' | 'WORKDIR' }> {
  return ins.kind === 'RUN' || ins.kind === 'COPY' || ins.kind === 'ADD' || ins.kind === 'WORKDIR';
}

function resolveWorkdirAfter(step: PlannedStep): string {
  const ins = step.instr as Extract<Instruction, { kind: 'WORKDIR' }>;
  return resolve('/', step.before.workdir, ins.path).split(sep).join('/');
}

/** WORKDIR creates the directory (and missing parents) when the view below lacks it. */
function workdirEntries(abs: string, below: ViewLike): LayerEntry[] {
  const out: LayerEntry[] = [];
  let p = '';
  for (const seg of abs.split('/').filter(Boolean)) {
    p = p ? `${p}/${seg}` : seg;
    if (below.get(p)?.type !== 'dir') out.push({ path: p, type: 'dir', mode: 0o755 });
  }
  return out;
}

/** The argv for a RUN: exec form as is; shell form through SHELL; a RUN that is only a heredoc
 *  runs its body as the script, as BuildKit does; with a `#!` line, through that interpreter
 *  (`script` is then written to a file whose path the caller appends to argv). */
function commandLine(ins: Extract<Instruction, { kind: 'RUN' }>, st: ConfigState): { argv: string[]; script?: string } {
  if (ins.exec) return { argv: ins.exec };
  const text = ins.shell ?? '';
  const body = (h: (typeof ins.heredocs)[number]) => (h.chomp ? h.content.replace(/^\t+/gm, '') : h.content);
  const only = ins.heredocs.length === 1 ? ins.heredocs[0]! : undefined;
  if (only && /^\s*\d*<<-?\s*["']?[^"'\s]+["']?\s*$/.test(text)) {
    const script = body(only);
    const shebang = /^#!\s*(\S+)(?:[ \t]+(.*))?/.exec(script);
    if (shebang) return { argv: [shebang[1]!, ...(shebang[2] ? [shebang[2]] : [])], script };
    return { argv: [...st.shell, script] };
  }
  // Other heredocs are handed to the shell, which reads them itself.
  const full = ins.heredocs.length ? `${text}\n${ins.heredocs.map((h) => `${h.content}${h.name}\n`).join('')}` : text;
  return { argv: [...st.shell, full] };
}

/** Stack a step's layer on the stage. `viewIsCurrent`: the stage's view already shows the
 *  layer (a RUN's snapshot is the view after it); otherwise it is re-merged when next needed. */
function applyStepResult(run: StageRun, layer: LayerDigest | null, chain: ChainDigest, viewIsCurrent: boolean): void {
  if (!layer) return;
  run.layers = [...run.layers, layer];
  run.chain = chain;
  if (!viewIsCurrent) run.view = undefined;
}

function historyText(step: PlannedStep): string {
  const ins = step.instr;
  if (ins.kind === 'RUN') return `RUN ${ins.exec ? JSON.stringify(ins.exec) : `/bin/sh -c ${ins.shell ?? ''}`} # buildkit`;
  return step.text;
}

function historyEntry(step: PlannedStep, layer: LayerDigest | null, store: Store, created: string): HistoryEntry {
  if (!layer) return { created, created_by: historyText(step), empty_layer: true };
  return { created, created_by: historyText(step), layer, size: store.getLayer(layer)?.size ?? 0 };
}

function imageConfig(st: ConfigState) {
  const cfg = structuredClone(st.image);
  if (st.env.length) cfg.Env = st.env.map(([k, v]) => `${k}=${v}`);
  if (st.workdir !== '/') cfg.WorkingDir = st.workdir;
  return cfg;
}

function toUserError(err: unknown): UserError | undefined {
  if (err instanceof UserError) return err;
  if (err instanceof ContextError) return new UserError(`CONTEXT_${err.code}`, err.message, err.hint, EXIT.usage);
  if (err instanceof CopyError) return new UserError('COPY', err.message, err.hint, EXIT.usage);
  if (err instanceof StoreError) {
    if (err.code === 'ECHANGED') return new UserError('ECHANGED', `${String(err.facts.path ?? 'a file')} changed while it was being copied`, 'build again once the file is saved', EXIT.io, undefined, String(err.facts.path ?? ''));
    return new UserError(err.code, `store error: ${err.message}`, 'run `stratum cache verify` to check and repair the store', EXIT.io);
  }
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && typeof e.syscall === 'string') {
    return new UserError(e.code, `${e.syscall} ${e.path ?? ''}: ${e.message}`, e.code === 'ENOSPC' ? 'free some disk space (`stratum prune`)' : 'check permissions and free space', EXIT.io, undefined, e.path);
  }
  return undefined;
}
