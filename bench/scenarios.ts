/**
 * The five scenarios of `stratum bench`, each build a real CLI child process:
 *
 * - cold: a fresh, empty temporary store (so a fresh workspace and stat cache too);
 * - warm: nothing changed since the last build into the bench's warm store;
 * - touch: every context file's mtime changed, no content changed;
 * - incremental: one file changed among the sources of the last COPY from the context;
 * - top: one file changed among the sources of the first COPY from the context.
 *
 * Every run of incremental and top makes a change never seen before (see `Mutation`) and
 * undoes it after the build. The runs are interleaved, one of each scenario per round
 * (cold, warm, touch, incremental, top, cold, …), so slow drift of the machine (page cache,
 * the ext4 allocator after mass deletes, another process) spreads over all scenarios instead
 * of biasing one. Warm-up rounds run first and are not counted.
 *
 * The context given here must be a scratch copy: touch and the mutations change it.
 * Engine-free: the caller picks the files to change.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runCliBuild, type ChildBuild } from './child.js';
import { listFiles, Mutation, touchAll } from './tree.js';
import { max, median, min, round } from './stats.js';

export const SCENARIOS = ['cold', 'warm', 'touch', 'incremental', 'top'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface ScenarioOptions {
  /** dist/cli/main.js */
  cli: string;
  /** The scratch copy of the context (it is modified). */
  context: string;
  /** CLI arguments before CONTEXT, e.g. `-f <dockerfile>`, `--build-arg K=V`. */
  buildArgs: string[];
  /** Scratch directory for the stores (created). */
  workDir: string;
  runs: number;
  warmup: number;
  /** The files incremental and top change; a scenario without one is skipped. */
  incrementalFile?: string;
  topFile?: string;
  only?: readonly ScenarioName[];
  rssHook?: string;
  env?: NodeJS.ProcessEnv;
  nodeArgs?: string[];
  signal?: AbortSignal;
  /** After every build (warm-ups included); awaited, so it may time a floor between builds. */
  onRun?: (r: { scenario: ScenarioName | 'prime'; run: number; warmup: boolean; build: ChildBuild }) => unknown;
  onStart?: (r: { scenario: ScenarioName | 'prime'; run: number; warmup: boolean }) => void;
}

export interface ScenarioResult {
  name: ScenarioName;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** cold's median over this one's (1 for cold). */
  speedup: number;
  /** Steps with a cache key that hit (the fewest over the runs), and how many have a key. */
  cachedSteps: number;
  totalSteps: number;
  /** The engine's own time (build-done.ms), median: the wall time minus process start-up and exit. */
  medianEngineMs: number;
  /** Peak RSS of the CLI process, MiB: median and highest over the runs. */
  medianRssMiB: number | null;
  peakRssMiB: number | null;
  /** Each run's wall time, in run order. */
  samplesMs: number[];
}

export class BenchBuildError extends Error {
  constructor(
    readonly scenario: string,
    readonly build: ChildBuild,
  ) {
    const tail = build.stderr.trim().split('\n').slice(-15).join('\n');
    super(`the ${scenario === 'prime' ? 'first' : scenario} build failed (exit ${build.code ?? build.signal})${tail ? `:\n${tail}` : ''}`);
  }
}

export class BenchAborted extends Error {
  constructor() {
    super('benchmark interrupted');
  }
}

/** The scenarios that will run, in round order. */
export function plannedScenarios(o: Pick<ScenarioOptions, 'incrementalFile' | 'topFile' | 'only'>): ScenarioName[] {
  return SCENARIOS.filter((s) => (!o.only || o.only.includes(s)) && (s !== 'incremental' || o.incrementalFile) && (s !== 'top' || o.topFile));
}

/** Number of builds `runScenarios` will run (for a progress bar). */
export function countBuilds(o: Pick<ScenarioOptions, 'incrementalFile' | 'topFile' | 'only' | 'runs' | 'warmup'>): number {
  return 1 + plannedScenarios(o).length * (o.runs + o.warmup);
}

export async function runScenarios(o: ScenarioOptions): Promise<ScenarioResult[]> {
  const names = plannedScenarios(o);
  mkdirSync(o.workDir, { recursive: true });
  const warmStore = join(o.workDir, 'warm-store');
  let current: ChildProcess | undefined;
  const onAbort = () => current?.kill('SIGTERM');
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const env = (store: string): NodeJS.ProcessEnv => ({ ...(o.env ?? process.env), STRATUM_CACHE_DIR: store });
  let coldN = 0;
  const build = async (scenario: ScenarioName | 'prime', run: number, warmup: boolean): Promise<ChildBuild> => {
    if (o.signal?.aborted) throw new BenchAborted();
    const store = scenario === 'cold' ? join(o.workDir, `cold-${++coldN}`) : warmStore;
    o.onStart?.({ scenario, run, warmup });
    const b = await runCliBuild({
      cli: o.cli,
      args: ['--cache-dir', store, ...o.buildArgs, o.context],
      env: env(store),
      ...(o.rssHook ? { rssHook: o.rssHook } : {}),
      ...(o.nodeArgs ? { nodeArgs: o.nodeArgs } : {}),
      onSpawn: (c) => (current = c),
    });
    current = undefined;
    if (o.signal?.aborted) throw new BenchAborted();
    if (!b.ok) throw new BenchBuildError(scenario, b);
    await o.onRun?.({ scenario, run, warmup, build: b });
    return b;
  };

  const files = names.includes('touch') ? listFiles(o.context) : [];
  const incremental = o.incrementalFile ? new Mutation(o.incrementalFile) : undefined;
  const top = o.topFile ? new Mutation(o.topFile) : undefined;
  const samples = new Map<ScenarioName, ChildBuild[]>(names.map((n) => [n, []]));
  try {
    await build('prime', 0, true);
    const rounds = o.warmup + o.runs;
    for (let r = 0; r < rounds; r++) {
      const warmup = r < o.warmup;
      const run = warmup ? r + 1 : r - o.warmup + 1;
      for (const name of names) {
        let b: ChildBuild;
        switch (name) {
          case 'cold':
          case 'warm':
            b = await build(name, run, warmup);
            break;
          case 'touch':
            // A time no earlier build saw; the kernel stores it to the nanosecond.
            touchAll(files, new Date(Date.now() - 1000 + r));
            b = await build(name, run, warmup);
            break;
          case 'incremental':
          case 'top': {
            const m = name === 'incremental' ? incremental! : top!;
            m.change();
            try {
              b = await build(name, run, warmup);
            } finally {
              m.restore();
            }
            break;
          }
        }
        if (!warmup) samples.get(name)!.push(b);
      }
    }
  } finally {
    incremental?.restore();
    top?.restore();
    o.signal?.removeEventListener('abort', onAbort);
  }
  return summarize(samples);
}

function summarize(samples: Map<ScenarioName, ChildBuild[]>): ScenarioResult[] {
  const out: ScenarioResult[] = [];
  const coldMedian = samples.has('cold') ? median(samples.get('cold')!.map((b) => b.wallMs)) : NaN;
  for (const [name, builds] of samples) {
    const wall = builds.map((b) => b.wallMs);
    const rss = builds.map((b) => b.maxRssKiB).filter((x): x is number => x !== undefined);
    const med = median(wall);
    out.push({
      name,
      runs: builds.length,
      medianMs: round(med),
      minMs: round(min(wall)),
      maxMs: round(max(wall)),
      speedup: name === 'cold' ? 1 : Number.isFinite(coldMedian) ? round(coldMedian / med, 2) : NaN,
      cachedSteps: min(builds.map((b) => b.cachedSteps)),
      totalSteps: max(builds.map((b) => b.keyedSteps)),
      medianEngineMs: round(median(builds.map((b) => b.engineMs ?? NaN))),
      medianRssMiB: rss.length ? round(median(rss) / 1024) : null,
      peakRssMiB: rss.length ? round(max(rss) / 1024) : null,
      samplesMs: wall.map((w) => round(w)),
    });
  }
  return out;
}
