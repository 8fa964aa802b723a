/**
 * `stratum bench [-f Dockerfile] [--runs N] [--warmup N] [--json] CONTEXT`: time cold against
 * warm builds of the user's own Dockerfile (scenarios in bench/scenarios.ts).
 *
 * Safety: the context is copied to a temporary directory and only the copy is touched or
 * changed; every build uses a temporary store (cold: a fresh one per run). The user's files
 * and store are never written, so an interrupted benchmark (Ctrl-C, a failed build, a crash)
 * cannot leave anything of theirs changed. The temporary directory is removed at the end,
 * also on Ctrl-C or error; TMPDIR chooses where it goes (e.g. TMPDIR=/dev/shm for tmpfs).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EXIT, UserError, formatError, toUserError } from '../../engine/errors.js';
import { loadDockerfile } from '../../engine/load.js';
import { ContextReader } from '../../engine/context.js';
import { createMatcher, loadDockerignore } from '../../engine/dockerignore.js';
import type { PlannedStep } from '../../engine/plan.js';
import { usageError } from '../usage.js';
import { timeNode, writeRssHook } from '../../bench/child.js';
import { createProgress } from '../../bench/progress.js';
import { BenchAborted, BenchBuildError, countBuilds, runScenarios, type ScenarioResult } from '../../bench/scenarios.js';
import { formatMs, formatRange, formatRatio, median, round, table } from '../../bench/stats.js';
import { copyTree, looksLikeText } from '../../bench/tree.js';
import type { Io } from './build.js';

export interface BenchCliOptions {
  context: string;
  dockerfile: string;
  runs: number;
  warmup: number;
  json: boolean;
  buildArgs: string[];
  target?: string;
  help: boolean;
}

export const BENCH_USAGE = `Usage: stratum bench [options] [CONTEXT]

Times builds of CONTEXT in five scenarios, each build a fresh \`stratum build\` process:
  cold         a fresh, empty store every run
  warm         nothing changed
  touch        every context file's mtime changed, no content changed
  incremental  one file changed among the sources of the last COPY from the context
  top          one file changed among the sources of the first COPY from the context

The context is copied to a temporary directory (under $TMPDIR) and only the copy is changed;
every build uses a temporary store. Your files and your store are never touched.

Options:
  -f, --file PATH          Dockerfile (default: CONTEXT/Dockerfile)
      --runs N             measured runs per scenario (default 5)
      --warmup N           rounds before measuring, not counted (default 1)
      --build-arg K=V      passed to every build (repeatable)
      --target STAGE       passed to every build
      --json               print {"scenarios":[{name, runs, medianMs, minMs, maxMs, speedup,
                           cachedSteps, totalSteps, …}]} on stdout
  -h, --help               show this help`;

const options = {
  file: { type: 'string', short: 'f' },
  runs: { type: 'string' },
  warmup: { type: 'string' },
  json: { type: 'boolean' },
  'build-arg': { type: 'string', multiple: true },
  target: { type: 'string' },
  'cache-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function parseBenchArgs(argv: string[]): BenchCliOptions {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw usageError(`bench: ${(err as Error).message.replace(/\. To specify a positional.*$/s, '')}`, 'run `stratum bench --help` for usage');
  }
  const v = parsed.values;
  if (v['cache-dir'] !== undefined) throw usageError('bench: --cache-dir is not used by bench', 'every benchmark build uses a temporary store, so your store is never touched; drop --cache-dir');
  if (parsed.positionals.length > 1) throw usageError(`bench: expected one CONTEXT directory, got ${parsed.positionals.length}: ${parsed.positionals.join(' ')}`);
  const count = (name: string, raw: string | undefined, dflt: number, least: number): number => {
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < least) throw usageError(`bench: --${name} takes a whole number ≥ ${least} (got "${raw}")`);
    return n;
  };
  const context = resolve(parsed.positionals[0] ?? '.');
  const help = v.help ?? false;
  if (!help) {
    if (!existsSync(context)) throw usageError(`bench: context directory ${context} does not exist`, 'pass the directory that holds your sources (and usually the Dockerfile)');
    if (!statSync(context).isDirectory()) throw usageError(`bench: context ${context} is not a directory`, 'the context is a directory; pass the Dockerfile with -f');
  }
  const dockerfile = v.file !== undefined ? resolve(v.file) : join(context, 'Dockerfile');
  if (!help && !existsSync(dockerfile)) throw usageError(`bench: no Dockerfile at ${dockerfile}`, 'pass the Dockerfile with -f PATH');
  for (const kv of v['build-arg'] ?? []) if (!kv.includes('=') || kv.startsWith('=')) throw usageError(`bench: --build-arg "${kv}" needs a value`, 'write --build-arg NAME=VALUE');
  return {
    context,
    dockerfile,
    runs: count('runs', v.runs, 5, 1),
    warmup: count('warmup', v.warmup, 1, 0),
    json: v.json ?? false,
    buildArgs: v['build-arg'] ?? [],
    ...(v.target !== undefined ? { target: v.target } : {}),
    help,
  };
}

/** Paths of the scratch copy. */
interface Scratch {
  root: string;
  context: string;
  dockerfile: string;
}

/** Copy the context (minus what .dockerignore excludes: no build can read it) and the
 *  Dockerfile, with its own `<name>.dockerignore` when it lives outside the context. */
function makeScratch(opts: BenchCliOptions): Scratch {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'stratum-bench-')));
  const context = join(root, 'context');
  const srcContext = realpathSync(opts.context);
  const srcDockerfile = resolve(opts.dockerfile);
  const ignore = loadDockerignore(srcContext, srcDockerfile);
  const dfRel = relative(srcContext, srcDockerfile);
  const dfInside = dfRel !== '' && !dfRel.startsWith('..') && !dfRel.startsWith(sep);
  const always = new Set(['.dockerignore', ...(dfInside ? [dfRel.split(sep).join('/'), `${dfRel.split(sep).join('/')}.dockerignore`] : [])]);
  copyTree(srcContext, context, (rel) => !always.has(rel) && !ignore.mayReinclude && ignore.ignores(rel));
  let dockerfile: string;
  if (dfInside) dockerfile = join(context, dfRel);
  else {
    const dir = join(root, 'dockerfile');
    mkdirSync(dir);
    dockerfile = join(dir, basename(srcDockerfile));
    copyFileSync(srcDockerfile, dockerfile);
    const own = `${srcDockerfile}.dockerignore`;
    if (existsSync(own)) copyFileSync(own, `${dockerfile}.dockerignore`);
  }
  return { root, context, dockerfile };
}

/** A file among the sources of a COPY/ADD from the context (text files preferred), or undefined. */
function fileOfStep(step: PlannedStep, ctx: ContextReader): string | undefined {
  const ins = step.instr;
  if ((ins.kind !== 'COPY' && ins.kind !== 'ADD') || ins.from !== undefined) return undefined;
  const heredocs = new Set(ins.heredocs.map((h) => h.name));
  const exclude = ins.exclude.length ? createMatcher(ins.exclude, '--exclude') : undefined;
  const files: string[] = [];
  for (const source of ins.sources) {
    if (/^<<-?/.test(source) && heredocs.size) continue;
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) continue;
    let matches;
    try {
      matches = ctx.select(source);
    } catch {
      continue; // the build will report it
    }
    for (const m of matches) {
      if (m.top.type === 'file') files.push(m.top.abs);
      for (const c of m.children) {
        const inner = m.base === '' ? c.rel : c.rel.slice(m.base.length + 1);
        if (c.type === 'file' && !exclude?.ignores(inner)) files.push(c.abs);
      }
    }
  }
  return files.find((f) => looksLikeText(f)) ?? files[0];
}

/** The files `incremental` (last COPY from the context) and `top` (first) change. */
function pickFiles(scratch: Scratch, opts: BenchCliOptions): { incremental?: string; top?: string } {
  const display = relative(process.cwd(), opts.dockerfile) || opts.dockerfile;
  const buildArgs: Record<string, string> = {};
  for (const kv of opts.buildArgs) buildArgs[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
  const { plan } = loadDockerfile(scratch.dockerfile, display, { buildArgs, ...(opts.target !== undefined ? { target: opts.target } : {}) });
  const ctx = new ContextReader(scratch.context, loadDockerignore(scratch.context, scratch.dockerfile));
  const copies = plan.steps.filter((s) => (s.instr.kind === 'COPY' || s.instr.kind === 'ADD') && s.instr.from === undefined);
  const firstFile = (steps: PlannedStep[]) => {
    for (const s of steps) {
      const f = fileOfStep(s, ctx);
      if (f) return f;
    }
    return undefined;
  };
  const top = firstFile(copies);
  const incremental = firstFile([...copies].reverse());
  return { ...(incremental ? { incremental } : {}), ...(top ? { top } : {}) };
}

export async function benchCommand(opts: BenchCliOptions, io: Io): Promise<number> {
  if (opts.help) {
    io.stdout.write(BENCH_USAGE + '\n');
    return EXIT.ok;
  }
  const cli = fileURLToPath(new URL('../main.js', import.meta.url));
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let scratch: Scratch | undefined;
  let progress: ReturnType<typeof createProgress> | undefined;
  try {
    scratch = makeScratch(opts);
    const picked = pickFiles(scratch, opts);
    const sc = scratch;
    const rel = (p: string | undefined) => (p ? relative(sc.context, p) : undefined);
    const base = { runs: opts.runs, warmup: opts.warmup, ...(picked.incremental ? { incrementalFile: picked.incremental } : {}), ...(picked.top ? { topFile: picked.top } : {}) };
    const floorRuns = Math.max(3, opts.runs);
    progress = createProgress(io.stderr, countBuilds(base) + floorRuns);
    if (!picked.top) progress.note('no COPY from the context selects a file: skipping incremental and top');
    else progress.note(`incremental changes ${rel(picked.incremental)}, top changes ${rel(picked.top)} (in a temporary copy of the context)`);
    const p = progress;
    const args = ['-f', scratch.dockerfile, ...opts.buildArgs.flatMap((kv) => ['--build-arg', kv]), ...(opts.target !== undefined ? ['--target', opts.target] : [])];
    const results = await runScenarios({
      ...base,
      cli,
      context: scratch.context,
      buildArgs: args,
      workDir: join(scratch.root, 'stores'),
      rssHook: writeRssHook(scratch.root),
      signal: controller.signal,
      env: { ...process.env, NO_COLOR: '1' },
      onStart: ({ scenario, run, warmup }) => p.start(scenario === 'prime' ? 'first build (warm-up)' : `${scenario} ${warmup ? 'warm-up' : `run ${run}/${opts.runs}`}`),
      onRun: ({ scenario, run, warmup, build }) =>
        p.done(`${scenario === 'prime' ? 'first build' : scenario} ${warmup ? 'warm-up' : `run ${run}/${opts.runs}`}: ${formatMs(build.wallMs)}, ${build.cachedSteps}/${build.keyedSteps} cached${build.maxRssKiB ? `, ${Math.round(build.maxRssKiB / 1024)} MiB` : ''}`),
    });
    // The floor of any CLI run: a node process that does nothing.
    const floor: number[] = [];
    for (let i = 0; i < floorRuns; i++) {
      if (controller.signal.aborted) throw new BenchAborted();
      p.start('node -e 0');
      floor.push(await timeNode(['-e', '0']));
      p.done();
    }
    p.end();
    const nodeStartMs = round(median(floor));
    if (opts.json) {
      const scenarios = results.map(({ samplesMs: _s, ...r }) => r);
      io.stdout.write(JSON.stringify({ scenarios, nodeStartMs }) + '\n');
    } else {
      io.stdout.write(render(results, nodeStartMs, opts) + '\n');
    }
    return EXIT.ok;
  } catch (err) {
    progress?.end();
    if (err instanceof BenchAborted) {
      io.stderr.write('stratum bench: interrupted; temporary files removed, your context and store were not touched\n');
      return 130;
    }
    if (err instanceof BenchBuildError) {
      io.stderr.write(formatError(new UserError('STEP_FAILED', `bench: ${err.message}`, 'run `stratum build` on this context to see the failure in full; bench builds with empty temporary stores, so a FROM <image> from your store is not available', EXIT.stepFailed)) + '\n');
      return EXIT.stepFailed;
    }
    throw toUserError(err, { errno: 'check free space and permissions of $TMPDIR (bench copies the context there)' }) ?? err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (scratch) rmSync(scratch.root, { recursive: true, force: true });
  }
}

function render(results: ScenarioResult[], nodeStartMs: number, opts: BenchCliOptions): string {
  const rows = results.map((r) => [
    r.name,
    formatMs(r.medianMs),
    formatRange(r.minMs, r.maxMs),
    r.name === 'cold' ? '1×' : formatRatio(r.speedup),
    `${r.cachedSteps}/${r.totalSteps}`,
    r.peakRssMiB !== null ? `${Math.round(r.peakRssMiB)} MiB` : '–',
  ]);
  const head = `stratum bench: ${opts.runs} run${opts.runs === 1 ? '' : 's'} per scenario after ${opts.warmup} warm-up round${opts.warmup === 1 ? '' : 's'}, each a fresh \`stratum build\` process`;
  return [
    head,
    '',
    table(['scenario', 'median', 'min–max', 'speed-up', 'cached', 'peak RSS'], rows, [false, true, true, true, true, true]),
    '',
    `node -e 0 takes ${formatMs(nodeStartMs)} here: the floor of any build.`,
  ].join('\n');
}
