/**
 * The project's benchmark suite (`npm run bench`): regenerates bench/RESULTS.md.
 *
 * 1. Synthetic contexts (bench/generate.ts) of each size in STRATUM_BENCH_SIZES.
 * 2. Whole CLI runs (bench/scenarios.ts) on each, every build a real `stratum build` process;
 *    `node -e 0` is timed after every warm build (interleaved), the RUN commands report
 *    their own time through $STRATUM_BENCH_RUNLOG.
 * 3. Phases one by one, in process, each beside its floor (bench/phases.ts, bench/floors.ts).
 * 4. Watch latency (bench/watch-latency.ts), and two independent `sleep 1` stages
 *    (bench/parallel-stages.ts: the solver runs them at once).
 * 5. The targets of issue 5, checked; for each one missed, a CPU profile of it.
 *
 * Settings (environment): STRATUM_BENCH_SIZES (default 1000,10000,50000), STRATUM_BENCH_TARGET_SIZE
 * (10000), STRATUM_BENCH_DEP_FILES (3000), STRATUM_BENCH_RUNS (5), STRATUM_BENCH_ROUNDS (5),
 * STRATUM_BENCH_WATCH_EDITS (50), STRATUM_BENCH_DIR, STRATUM_BENCH_PROFILE=0, STRATUM_BENCH_OUT,
 * STRATUM_BENCH_SCALE_FILES (200000; 0 skips the scale scenario), STRATUM_BENCH_CACHE_FROM_RUNS (3), STRATUM_BENCH_SCALE_DIR
 * (/var/tmp/stratum-bench-scale, where its context is generated once and kept).
 *
 * Scratch trees go to STRATUM_BENCH_DIR, by default /dev/shm (tmpfs): the phases are CPU-bound
 * there, and the ext4 allocator's slowness after mass deletes cannot skew one side of a
 * comparison. Sizes and counts come from the environment (see `config()`); the defaults fit
 * in about five minutes on the project's 2-core machines.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCliBuild, timeNode, writeRssHook, type ChildBuild } from './child.js';
import { generateContext, type GeneratedContext } from './generate.js';
import { describeMachine, fsTypeOf, loadNow } from './machine.js';
import { measureBigSnapshot, measurePhases, measureSnapshot, measureStartup, stageWorkspace } from './phases.js';
import { onlyProfile, profileInProcess, summarizeProfile } from './profile.js';
import { renderResults, type ProfileSection, type Results, type SizeResult, type TargetRow } from './report.js';
import { runScenarios, type ScenarioName } from './scenarios.js';
import { median } from './stats.js';
import { Mutation } from './tree.js';
import { measureWatchLatency } from './watch-latency.js';
import { measureParallelStages } from './parallel-stages.js';
import { stageBareWorkspace, timeChangedCommands } from './incremental-floor.js';
import { measureScale, type ScaleResult } from './scale.js';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
/** The warm build's floor as a process: node + the bare readdir+lstat walk (bench/walk-floor.ts). */
const WALK_FLOOR = fileURLToPath(new URL('./walk-floor.js', import.meta.url));
/** Per context size, the walk floor's median, timed after every warm build (issue 8's floor). */
const walkFloors = new Map<number, number>();
const RESULTS = fileURLToPath(new URL('../../bench/RESULTS.md', import.meta.url));
const FINDINGS = fileURLToPath(new URL('../../bench/findings.md', import.meta.url));

function config() {
  const num = (name: string, dflt: number) => {
    const v = process.env[name];
    if (v === undefined || v === '') return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number (got "${v}")`);
    return n;
  };
  const sizes = (process.env.STRATUM_BENCH_SIZES ?? '1000,10000,50000')
    .split(',')
    .map((s) => Number(s.trim().replace(/k$/i, '000')))
    .filter((n) => n > 0)
    .sort((a, b) => a - b);
  if (!sizes.length) throw new Error('STRATUM_BENCH_SIZES names no size');
  const target = num('STRATUM_BENCH_TARGET_SIZE', sizes.includes(10_000) ? 10_000 : sizes[Math.floor((sizes.length - 1) / 2)]!);
  let dir = process.env.STRATUM_BENCH_DIR;
  if (!dir) {
    try {
      accessSync('/dev/shm', constants.W_OK);
      dir = '/dev/shm';
    } catch {
      dir = tmpdir();
    }
  }
  return {
    sizes,
    /** The size the targets (but snapshot and memory) are checked on. */
    target,
    /** The size the snapshot and memory targets are checked on: the largest. */
    big: sizes[sizes.length - 1]!,
    depFiles: num('STRATUM_BENCH_DEP_FILES', 3000),
    runs: num('STRATUM_BENCH_RUNS', 5),
    cacheFromRuns: num('STRATUM_BENCH_CACHE_FROM_RUNS', 3),
    rounds: num('STRATUM_BENCH_ROUNDS', 5),
    watchEdits: num('STRATUM_BENCH_WATCH_EDITS', 50),
    profile: process.env.STRATUM_BENCH_PROFILE !== '0',
    /** The scale scenario (bench/scale.ts): context size (0 skips it) and where it is kept. */
    scaleFiles: num('STRATUM_BENCH_SCALE_FILES', 200_000),
    scaleDir: process.env.STRATUM_BENCH_SCALE_DIR || '/var/tmp/stratum-bench-scale',
    dir,
    out: process.env.STRATUM_BENCH_OUT || RESULTS,
  };
}

const t0 = performance.now();
const log = (line: string) => process.stderr.write(`bench ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)}s  ${line}\n`);

/** Sum of the RUN commands' own time reported in a runlog since the last call (ms), then empty it. */
function drainRunlog(path: string): number {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return 0;
  }
  writeFileSync(path, '');
  let ms = 0;
  for (const line of text.split('\n')) {
    const [, a, b] = line.trim().split(/\s+/);
    if (a && b && /^\d+$/.test(a) && /^\d+$/.test(b)) ms += Number(BigInt(b) - BigInt(a)) / 1e6;
  }
  return ms;
}

async function benchSize(cfg: ReturnType<typeof config>, scratch: string, ctx: GeneratedContext, files: number, rssHook: string, just?: ScenarioName[]): Promise<{ result: SizeResult; warmStore: string }> {
  const big = !just && files === cfg.big && cfg.sizes.length > 1;
  const runlog = join(scratch, `runlog-${files}.txt`);
  writeFileSync(runlog, '');
  const nodeMs: number[] = [];
  const walkMs: number[] = [];
  const runMs = new Map<string, number>();
  const incrementalNet: number[] = [];
  const incrementalFloor: number[] = [];
  const incrementalRatio: number[] = [];
  const bareDir = big ? undefined : stageBareWorkspace(ctx.dir, join(scratch, `bare-${files}`));
  let prime: ChildBuild | undefined;
  const only: ScenarioName[] = just ?? (big ? ['warm'] : ['cold', 'warm', 'touch', 'incremental', 'top']);
  const workDir = join(scratch, `stores-${files}`);
  log(`${files} files: ${only.join(', ')} × ${cfg.runs} runs, each a \`stratum build\` process`);
  const scenarios = await runScenarios({
    cli: CLI,
    context: ctx.dir,
    buildArgs: [],
    workDir,
    runs: cfg.runs,
    warmup: big ? 0 : 1,
    incrementalFile: ctx.incrementalFile,
    topFile: ctx.topFile,
    only,
    rssHook,
    env: { ...process.env, STRATUM_BENCH_RUNLOG: runlog, NO_COLOR: '1' },
    onRun: async ({ scenario, run, warmup, build }) => {
      const ran = drainRunlog(runlog);
      if (scenario === 'prime') prime = build;
      if (warmup) return;
      runMs.set(`${scenario}#${run}`, ran);
      if (scenario === 'incremental') incrementalNet.push(build.wallMs - ran);
      if (scenario === 'incremental' && bareDir) {
        // The floor, right after the build it is compared with (paired, run by run).
        const floor = (await timeNode(['-e', '0'])) + (await timeChangedCommands(bareDir));
        incrementalFloor.push(floor);
        incrementalRatio.push(build.wallMs / floor);
      }
      // The floor, interleaved with the builds it is compared with.
      if (scenario === 'warm') {
        nodeMs.push(await timeNode(['-e', '0']));
        walkMs.push(await timeNode([WALK_FLOOR, ctx.dir]));
      }
      log(`  ${scenario} ${run}: ${Math.round(build.wallMs)} ms${ran ? ` (RUN commands ${Math.round(ran)} ms)` : ''}, ${build.cachedSteps}/${build.keyedSteps} cached, ${build.maxRssKiB ? Math.round(build.maxRssKiB / 1024) : '?'} MiB`);
    },
  });
  if (walkMs.length) walkFloors.set(files, median(walkMs));
  return {
    warmStore: join(workDir, 'warm-store'),
    result: {
      files,
      contextFiles: ctx.files,
      bytes: ctx.bytes,
      depFiles: cfg.depFiles,
      scenarios,
      nodeMs: median(nodeMs),
      ...(incrementalRatio.length ? { incrementalFloorMs: median(incrementalFloor), incrementalRatio: median(incrementalRatio) } : {}),
      ...(incrementalNet.length ? { incrementalMinusRunMs: median(incrementalNet), incrementalRunMs: median([...runMs].filter(([k]) => k.startsWith('incremental#')).map(([, v]) => v)) } : {}),
      ...(big && prime ? { primeMs: prime.wallMs, primeRssMiB: prime.maxRssKiB !== undefined ? prime.maxRssKiB / 1024 : null } : {}),
    },
  };
}

async function main(): Promise<void> {
  const cfg = config();
  mkdirSync(cfg.dir, { recursive: true });
  const scratch = mkdtempSync(join(cfg.dir, 'stratum-bench-suite-'));
  const rssHook = writeRssHook(scratch);
  log(`scratch ${scratch} (${fsTypeOf(scratch)}); sizes ${cfg.sizes.join(', ')}; targets on ${cfg.target}, snapshot and memory on ${cfg.big}`);
  const results: Results = {
    date: new Date().toISOString(),
    machine: describeMachine(),
    scratch: { dir: cfg.dir, fs: fsTypeOf(scratch) },
    config: { sizes: cfg.sizes, target: cfg.target, big: cfg.big, depFiles: cfg.depFiles, runs: cfg.runs, rounds: cfg.rounds, watchEdits: cfg.watchEdits },
    startup: { rows: [], nodeMs: NaN },
    sizes: [],
    phases: [],
    bigSnapshot: [],
    watch: { pending: 'not run' },
    parallel: undefined,
    targets: [],
    profiles: [],
    findings: '',
    totalSec: 0,
    loadAtEnd: NaN,
  };
  const contexts = new Map<number, GeneratedContext>();
  const warmStores = new Map<number, string>();
  try {
    log('start-up');
    results.startup = await measureStartup(CLI, cfg.rounds * 2);

    for (const files of cfg.sizes) {
      const dir = join(scratch, `ctx-${files}`);
      const ctx = generateContext(dir, { files, depFiles: cfg.depFiles });
      contexts.set(files, ctx);
      log(`generated ${ctx.files} files (${(ctx.bytes / 1e6).toFixed(0)} MB) in ${dir}`);
      const { result, warmStore } = await benchSize(cfg, scratch, ctx, files, rssHook);
      results.sizes.push(result);
      warmStores.set(files, warmStore);
    }

    const target = contexts.get(cfg.target);
    if (target) {
      log(`phases on ${cfg.target} files`);
      results.phases = await measurePhases({ contextDir: target.dir, scratch: join(scratch, 'phases'), depFiles: cfg.depFiles, rounds: cfg.rounds, label: `${target.files}-file context`, log });
      rmSync(join(scratch, 'phases'), { recursive: true, force: true });
    }
    const big = contexts.get(cfg.big);
    if (big) {
      log(`snapshot in the ${cfg.big}-file workspace`);
      results.bigSnapshot = await measureBigSnapshot(big.dir, join(scratch, 'big-snapshot'), cfg.depFiles, cfg.rounds, log);
    }

    if (target && cfg.watchEdits > 0) {
      log(`watch latency: ${cfg.watchEdits} edits`);
      try {
        results.watch = await watchLatency(target, join(scratch, 'watch-store'), cfg.watchEdits);
      } catch (err) {
        results.watch = { pending: `failed: ${(err as Error).message}` };
      }
    }

    log(`two independent sleep-1 stages: ${cfg.runs} cold builds`);
    try {
      results.parallel = await measureParallelStages({ cli: CLI, scratch: join(scratch, 'parallel'), runs: cfg.runs });
    } catch (err) {
      log(`  failed: ${(err as Error).message}`);
    }

    results.targets = targets(results, cfg);
    if (cfg.scaleFiles > 0) {
      try {
        const sc = await measureScale({ cli: CLI, files: cfg.scaleFiles, runs: cfg.runs, depFiles: cfg.depFiles, dir: cfg.scaleDir, rssHook, log });
        results.targets.push(...scaleTargets(sc));
      } catch (err) {
        log(`  scale failed: ${(err as Error).message}`);
      }
    }
    log(`--cache-from on a fresh store against skopeo copy: ${cfg.cacheFromRuns} paired runs`);
    results.targets.push(await cacheFromTarget(cfg, scratch));
    if (cfg.profile) await profileMisses(results, cfg, scratch, contexts, warmStores);
  } finally {
    log('removing scratch trees');
    rmSync(scratch, { recursive: true, force: true });
  }
  try {
    results.findings = readFileSync(FINDINGS, 'utf8');
  } catch {
    results.findings = '';
  }
  results.totalSec = (performance.now() - t0) / 1000;
  results.loadAtEnd = loadNow();
  writeFileSync(cfg.out, renderResults(results));
  log(`wrote ${cfg.out}`);
  for (const t of results.targets) log(`target ${t.skipped ? 'SKIP  ' : t.hit ? 'hit   ' : 'MISSED'} ${t.name}: ${t.skipped ?? t.measured} (target ${t.limit})`);
}

function targets(r: Results, cfg: ReturnType<typeof config>): TargetRow[] {
  const out: TargetRow[] = [];
  const t = r.sizes.find((s) => s.files === cfg.target);
  const b = r.sizes.find((s) => s.files === cfg.big);
  const warm = t?.scenarios.find((s) => s.name === 'warm');
  const walk = t && walkFloors.get(t.files);
  if (t && warm && walk) {
    // Issue 8: a one-shot process must start node and stat every context file.
    const ratio = warm.medianMs / walk;
    out.push({ id: 'warm', name: `warm no-change build, ${t.contextFiles}-file context`, measured: `${ratio.toFixed(2)}× node + the bare readdir+lstat walk (${Math.round(warm.medianMs)} ms / ${Math.round(walk)} ms; \`node -e 0\` ${Math.round(t.nodeMs)} ms)`, limit: '≤ 1.5×', ofTarget: ratio / 1.5, hit: ratio <= 1.5 });
  }
  const snap = r.bigSnapshot[0];
  if (snap?.ratio !== undefined) {
    out.push({ id: 'snapshot', name: `snapshot after a RUN, ${snap.on}`, measured: `${snap.ratio.toFixed(2)}× the walk (${Math.round(snap.ms)} ms / ${Math.round(snap.floorMs!)} ms)`, limit: '≤ 1.3×', ofTarget: snap.ratio / 1.3, hit: snap.ratio <= 1.3 });
  }
  const inc = t?.scenarios.find((s) => s.name === 'incremental');
  if (t && inc && t.incrementalRatio !== undefined) {
    const ratio = t.incrementalRatio;
    out.push({ id: 'incremental', name: `one-file incremental, ${t.contextFiles}-file context, against \`node -e 0\` + the changed steps' commands run bare`, measured: `${ratio.toFixed(2)}× (${Math.round(inc.medianMs)} ms / ${Math.round(t.incrementalFloorMs ?? 0)} ms)`, limit: '≤ 1.5×', ofTarget: ratio / 1.5, hit: ratio <= 1.5 });
  }
  const blobs = r.phases.find((p) => p.phase.startsWith('blob writes'));
  if (blobs?.ratio !== undefined) {
    out.push({ id: 'blobs', name: `cold build's blob writes, ${blobs.on}`, measured: `${blobs.ratio.toFixed(2)}× a bare copy (${Math.round(blobs.ms)} ms / ${Math.round(blobs.floorMs!)} ms)`, limit: '≤ 1.5×', ofTarget: blobs.ratio / 1.5, hit: blobs.ratio <= 1.5 });
  }
  if (r.parallel) {
    const ms = r.parallel.medianMs;
    out.push({ id: 'parallel', name: 'two independent stages of `sleep 1` each, cold, whole process', measured: `${Math.round(ms)} ms (floor \`sleep 1 & sleep 1\`: ${Math.round(r.parallel.floorMs)} ms)`, limit: '≤ 1200 ms', ofTarget: ms / 1200, hit: ms <= 1200 });
  }
  if (!('pending' in r.watch) && r.watch.debounceMs !== undefined) {
    const w = r.watch;
    const limit = w.debounceMs! + 20;
    out.push({ id: 'watch', name: `watch: save → first rebuilt step started, ${cfg.target.toLocaleString('en-US')}-file context, median of ${w.samplesMs.length} edits`, measured: `${Math.round(w.medianMs)} ms (chokidar's own save → event ${w.chokidarMedianMs.toFixed(1)} ms, debounce ${w.debounceMs} ms)`, limit: `≤ ${limit} ms (debounce + 20 ms)`, ofTarget: w.medianMs / limit, hit: w.medianMs <= limit });
  }
  const bwarm = b?.scenarios.find((s) => s.name === 'warm');
  if (b && bwarm?.peakRssMiB != null) {
    const mib = bwarm.peakRssMiB;
    out.push({ id: 'memory', name: `peak RSS of a warm build, ${b.contextFiles}-file context`, measured: `${Math.round(mib)} MiB`, limit: '≤ 200 MiB', ofTarget: mib / 200, hit: mib <= 200 });
  }
  return out;
}

/** The tools a scenario needs that are not on PATH. */
function missingTools(tools: string[]): string[] {
  return tools.filter((t) => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', t], { stdio: 'ignore' }).status !== 0);
}

/**
 * Issue 10: `--cache-from` on a fresh store, every step a hit, with an OCI layout output,
 * against `skopeo copy` of the same image (bench/cache-from.ts), build and copy only (no
 * push, no output-less build): about 15 s at 3 runs on a quiet machine. Skipped, with the
 * reason in the row, when docker-registry or skopeo is missing.
 */
async function cacheFromTarget(cfg: ReturnType<typeof config>, scratch: string): Promise<TargetRow> {
  const row = { id: 'cache-from' as const, name: 'cache-from build with OCI output ÷ skopeo copy (64 MiB image, fresh store, every step cached)', limit: '≤ 1.5×' };
  const missing = missingTools(['docker-registry', 'skopeo']);
  if (missing.length) return { ...row, measured: '', ofTarget: NaN, hit: false, skipped: `${missing.join(' and ')} not installed (apt-get install docker-registry skopeo)` };
  const dir = join(scratch, 'cache-from');
  mkdirSync(dir, { recursive: true });
  try {
    const { measureCacheFrom } = await import('./cache-from.js');
    const r = await measureCacheFrom({ cli: CLI, scratch: dir, runs: cfg.cacheFromRuns, buildOnly: true });
    return { ...row, measured: `${r.ratio.toFixed(2)}× (${Math.round(r.buildMs)} ms / ${Math.round(r.skopeoMs)} ms, median of ${r.runs} paired runs)`, ofTarget: r.ratio / 1.5, hit: r.ratio <= 1.5 };
  } catch (err) {
    return { ...row, measured: '', ofTarget: NaN, hit: false, skipped: `failed: ${(err as Error).message}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Issue 8, scope 5: the scale scenario's two targets. */
function scaleTargets(sc: ScaleResult): TargetRow[] {
  const ctx = `${sc.files}-file context`;
  const rss = Math.max(sc.coldRssMiB ?? Infinity, sc.warmRssMiB ?? Infinity);
  return [
    { id: 'scale-warm', name: `warm no-change build, ${ctx}`, measured: `${sc.ratio.toFixed(2)}× the bare readdir+lstat walk in its own node process (${Math.round(median(sc.warmMs))} ms / ${Math.round(median(sc.floorMs))} ms, paired, ${sc.cached} cached)`, limit: '≤ 1.3×', ofTarget: sc.ratio / 1.3, hit: sc.ratio <= 1.3 },
    { id: 'scale-memory', name: `peak RSS, cold and warm builds, ${ctx}`, measured: `cold ${sc.coldRssMiB?.toFixed(0) ?? '?'} MiB (${(sc.coldMs / 1000).toFixed(0)} s), warm ${sc.warmRssMiB?.toFixed(0) ?? '?'} MiB`, limit: '≤ 300 MiB', ofTarget: rss / 300, hit: rss <= 300 },
  ];
}

/** `node dist/bench/run.js --only=scale`: the scale scenario alone, printed; RESULTS.md is left alone. */
async function onlyScale(): Promise<void> {
  const cfg = config();
  const scratch = mkdtempSync(join(cfg.dir, 'stratum-bench-scale-'));
  try {
    const sc = await measureScale({ cli: CLI, files: cfg.scaleFiles || 200_000, runs: cfg.runs, depFiles: cfg.depFiles, dir: cfg.scaleDir, rssHook: writeRssHook(scratch), log });
    for (const t of scaleTargets(sc)) process.stdout.write(`${t.hit ? 'hit   ' : 'MISSED'} ${t.name}: ${t.measured} (target ${t.limit})\n`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** A CPU profile of each missed target: CLI builds with --cpu-prof, phases with node:inspector. */
async function profileMisses(r: Results, cfg: ReturnType<typeof config>, scratch: string, contexts: Map<number, GeneratedContext>, warmStores: Map<number, string>): Promise<void> {
  const engineOnly = (fn: string) => fn.includes('dist/') && !fn.includes('dist/bench/');
  const add = (title: string, path: string | undefined, note: string) => {
    if (!path) return;
    const s = summarizeProfile(path, 12);
    const engine = summarizeProfile(path, 14, engineOnly);
    r.profiles.push({ title, note, totalMs: s.totalMs, self: s.self, inclusive: engine.inclusive } satisfies ProfileSection);
  };
  const missed = new Set(r.targets.filter((t) => !t.hit).map((t) => t.id));
  const ctx = contexts.get(cfg.target);
  const store = warmStores.get(cfg.target);
  const cliProfile = async (title: string, change?: Mutation) => {
    if (!ctx || !store) return;
    const dir = mkdtempSync(join(scratch, 'prof-'));
    log(`profiling: ${title}`);
    change?.change();
    try {
      const b = await runCliBuild({ cli: CLI, args: ['--cache-dir', store, ctx.dir], nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
      add(title, onlyProfile(dir), `one \`stratum build\` process under --cpu-prof: ${Math.round(b.wallMs)} ms wall (profiler overhead included), ${b.cachedSteps}/${b.keyedSteps} cached`);
    } finally {
      change?.restore();
    }
  };
  if (missed.has('warm')) await cliProfile(`warm no-change build, ${ctx?.files}-file context`);
  if (missed.has('incremental') && ctx) await cliProfile(`one-file incremental build, ${ctx.files}-file context`, new Mutation(ctx.incrementalFile));
  if (missed.has('blobs') && ctx) {
    log('profiling: blob writes');
    const { createStore } = await import('../cache/store.js');
    const { ContextReader } = await import('../engine/context.js');
    const { loadDockerignore } = await import('../engine/dockerignore.js');
    const reader = new ContextReader(ctx.dir, loadDockerignore(ctx.dir, join(ctx.dir, 'Dockerfile')));
    const files = reader.select('src').flatMap((m) => m.children.filter((c) => c.type === 'file'));
    const store = createStore(join(scratch, 'prof-blobs'));
    const path = join(scratch, 'blobs.cpuprofile');
    await profileInProcess(path, () => {
      for (const f of files) store.writeBlobFromFile(f.abs, { digest: f.digest!, size: f.size });
    });
    add(`blob writes of ${files.length} files into an empty store`, path, 'in process (node:inspector), writeBlobFromFile for each file of COPY src/');
  }
  const big = contexts.get(cfg.big);
  if (missed.has('snapshot') && big) {
    log('profiling: snapshot');
    const staged = stageWorkspace(big.dir, join(scratch, 'prof-snapshot'), cfg.depFiles, () => {});
    const path = join(scratch, 'snapshot.cpuprofile');
    await profileInProcess(path, () => measureSnapshot(staged.ws, staged.view, 3, ''));
    add(`snapshot after a RUN in the ${staged.files}-file workspace`, path, 'in process (node:inspector): three snapshots, each beside its floor walk (so the walk shows too)');
  }
  if (missed.has('memory')) {
    r.profiles.push({ title: 'memory', note: 'a CPU profile does not show memory; see the findings below', totalMs: 0, self: [], inclusive: [] });
  }
}

/**
 * For the `--only=` modes: a scratch directory with a generated context of `--files=N` files
 * (default 10,000) in it, passed to `fn`, removed afterwards whatever happens.
 */
async function withGenerated(args: string[], name: string, depFiles: (cfg: ReturnType<typeof config>) => number, fn: (cfg: ReturnType<typeof config>, scratch: string, ctx: GeneratedContext, files: number) => Promise<void>): Promise<void> {
  const cfg = config();
  const files = Number(args.find((a) => a.startsWith('--files='))?.slice('--files='.length) ?? 10_000);
  const scratch = mkdtempSync(join(cfg.dir, `stratum-bench-${name}-`));
  try {
    await fn(cfg, scratch, generateContext(join(scratch, 'ctx'), { files, depFiles: depFiles(cfg) }), files);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * `node dist/bench/run.js --only=hash [--files=N]`: one generated context (default 10,000
 * files) and the sha256-vs-xxh64 rows of bench/hash-cost.ts, printed as a table; nothing
 * else of the suite runs and RESULTS.md is left alone. `--help` lists this.
 */
async function onlyHash(args: string[]): Promise<void> {
  await withGenerated(args, 'hash', () => 0, async (cfg, _scratch, ctx) => {
    log(`generated ${ctx.files} files (${(ctx.bytes / 1e6).toFixed(0)} MB)`);
    const { measureHashCost } = await import('./hash-cost.js');
    const rows = await measureHashCost(ctx.dir, cfg.rounds, `${ctx.files}-file context`);
    for (const r of rows) process.stdout.write(`${r.phase} | ${r.on} | ${r.ms.toFixed(2)} ms | ${r.floor} ${r.floorMs!.toFixed(2)} ms | ×${r.ratio!.toFixed(2)}\n`);
  });
}

/** Watch latency on a generated context, with its medians and the default debounce. */
async function watchLatency(ctx: GeneratedContext, store: string, edits: number): Promise<Results['watch']> {
  const w = await measureWatchLatency({ cli: CLI, context: ctx.dir, store, file: ctx.incrementalFile, edits });
  const { DEFAULT_DEBOUNCE_MS } = await import('../engine/watch.js');
  return { ...w, medianMs: median(w.samplesMs), minMs: Math.min(...w.samplesMs), maxMs: Math.max(...w.samplesMs), chokidarMedianMs: median(w.chokidarMs), buildStartMedianMs: median(w.buildStartMs), debounceMs: DEFAULT_DEBOUNCE_MS };
}

/** `node dist/bench/run.js --only=watch [--files=N]`: watch latency only, printed with its target. */
async function onlyWatch(args: string[]): Promise<void> {
  await withGenerated(args, 'watch', (cfg) => cfg.depFiles, async (cfg, scratch, ctx) => {
    log(`generated ${ctx.files} files; ${cfg.watchEdits} edits`);
    const w = await watchLatency(ctx, join(scratch, 'store'), cfg.watchEdits);
    if ('pending' in w) return;
    const limit = w.debounceMs! + 20;
    process.stdout.write(`watch save → first rebuilt step: median ${Math.round(w.medianMs)} ms (${Math.round(w.minMs)}–${Math.round(w.maxMs)}) over ${w.samplesMs.length} edits${w.missed ? `, ${w.missed} missed` : ''}; target ≤ ${limit} ms (debounce ${w.debounceMs} + 20): ${w.medianMs <= limit ? 'hit' : 'MISSED'}\n`);
    process.stdout.write(`  save → build-start median ${Math.round(w.buildStartMedianMs)} ms; chokidar's own save → event median ${w.chokidarMedianMs.toFixed(1)} ms (${median(w.chokidarMs.slice().sort((a, b) => a - b).slice(-Math.ceil(w.chokidarMs.length / 10))).toFixed(1)} ms in the slowest tenth)\n`);
  });
}

/**
 * `node dist/bench/run.js --only=incremental [--files=N]`: the one-file incremental scenario
 * alone on one generated context (default 10,000 files; the host-tools executor, as the
 * generated Dockerfile starts FROM scratch), each build beside its floor, printed.
 */
async function onlyIncremental(args: string[]): Promise<void> {
  await withGenerated(args, 'incremental', (cfg) => cfg.depFiles, async (cfg, scratch, ctx, files) => {
    log(`generated ${ctx.files} files (${(ctx.bytes / 1e6).toFixed(0)} MB)`);
    const { result: r } = await benchSize(cfg, scratch, ctx, files, writeRssHook(scratch), ['incremental']);
    const inc = r.scenarios.find((x) => x.name === 'incremental')!;
    process.stdout.write(`one-file incremental, ${r.contextFiles} files: median ${Math.round(inc.medianMs)} ms, floor (node -e 0 + changed steps bare) ${Math.round(r.incrementalFloorMs ?? NaN)} ms, ${(r.incrementalRatio ?? NaN).toFixed(2)}× (target ≤ 1.5×), ${cfg.runs} runs\n`);
  });
}

/** `node dist/bench/run.js --only=parallel`: the two-stage `sleep 1` build only, printed. */
async function onlyParallel(): Promise<void> {
  const cfg = config();
  const scratch = mkdtempSync(join(cfg.dir, 'stratum-bench-parallel-'));
  try {
    const p = await measureParallelStages({ cli: CLI, scratch, runs: cfg.runs });
    process.stdout.write(`two sleep-1 stages: median ${Math.round(p.medianMs)} ms (${Math.round(p.minMs)}–${Math.round(p.maxMs)}), floor ${Math.round(p.floorMs)} ms, ${p.runs} runs\n`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** `node dist/bench/run.js --only=cache-from`: --cache-from on a fresh store against skopeo
 *  copy of the same image, and a push of layers the registry has (bench/cache-from.ts). */
async function onlyCacheFrom(): Promise<void> {
  const cfg = config();
  const mib = Number(process.env.STRATUM_BENCH_CACHE_MIB ?? 64);
  // Not /dev/shm: the registry, the stores and the layouts hold several copies of the image.
  const scratch = mkdtempSync(join(process.env.STRATUM_BENCH_DIR ?? tmpdir(), 'stratum-bench-cache-from-'));
  try {
    const { measureCacheFrom } = await import('./cache-from.js');
    const r = await measureCacheFrom({ cli: CLI, scratch, runs: cfg.runs, mib });
    const ms = (n: number) => `${Math.round(n)} ms`;
    process.stdout.write(
      `--cache-from, fresh store, ${r.mib} MiB image, -o type=oci: ${ms(r.buildMs)} against skopeo copy ${ms(r.skopeoMs)}: ${r.ratio.toFixed(2)}× (target ≤ 1.5×), ${r.runs} paired runs
` +
        `same build, no output: ${ms(r.noOutputMs)}
` +
        `push of an image the registry has: ${ms(r.pushMs)} against skopeo copy registry→registry ${ms(r.skopeoPushMs)}: ${r.pushRatio.toFixed(2)}×
`,
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

const argv = process.argv.slice(2);
const entry = argv.includes('--help')
  ? async () => void process.stdout.write('usage: node dist/bench/run.js            the whole suite (regenerates bench/RESULTS.md)\n       node dist/bench/run.js --only=hash [--files=N]   sha256 vs xxh64 only (bench/hash-cost.ts)\n       node dist/bench/run.js --only=parallel   two independent sleep-1 stages only (bench/parallel-stages.ts)\n       node dist/bench/run.js --only=watch [--files=N]   watch latency only (bench/watch-latency.ts)\n       node dist/bench/run.js --only=incremental [--files=N]   the one-file incremental against its floor only (bench/incremental-floor.ts)\n       node dist/bench/run.js --only=cache-from   --cache-from on a fresh store vs skopeo copy (bench/cache-from.ts)\n       node dist/bench/run.js --only=scale      the 200k-file context only: warm vs the walk floor, peak RSS cold and warm (bench/scale.ts)\nsettings: STRATUM_BENCH_* environment variables, see the top of bench/run.ts\n')
  : argv.includes('--only=hash')
    ? () => onlyHash(argv)
    : argv.includes('--only=parallel')
      ? onlyParallel
      : argv.includes('--only=watch')
        ? () => onlyWatch(argv)
      : argv.includes('--only=incremental')
        ? () => onlyIncremental(argv)
      : argv.includes('--only=cache-from')
        ? onlyCacheFrom
      : argv.includes('--only=scale')
        ? onlyScale
        : main;
entry().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
