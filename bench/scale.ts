/**
 * Scale (issue 8, scope 5): a generated context of STRATUM_BENCH_SCALE_FILES files (default
 * 200,000, ~1 GB). One cold build into a fresh store, then warm no-change builds, each paired
 * with its floor, the bare readdir + lstat walk of the same context in a node process of its
 * own (bench/walk-floor.ts): A B A B …, medians. Peak RSS of the cold and of the warm builds
 * (the CLI process's own maxRSS, as bench/child.ts measures it).
 *
 * Generating 200k files takes disk time, so the context is generated once into
 * STRATUM_BENCH_SCALE_DIR (default /var/tmp/stratum-bench-scale) and reused while its marker
 * file matches; the store is made fresh for every run and removed after.
 *
 * Engine-free.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCliBuild, timeNode, type ChildBuild } from './child.js';
import { generateContext, type GeneratedContext } from './generate.js';
import { median } from './stats.js';

const FLOOR = fileURLToPath(new URL('./walk-floor.js', import.meta.url));

export interface ScaleResult {
  files: number;
  coldMs: number;
  coldRssMiB: number | null;
  warmMs: number[];
  floorMs: number[];
  warmRssMiB: number | null;
  /** Median of the per-pair ratios warm / floor. */
  ratio: number;
  cached: string;
}

export interface ScaleOptions {
  cli: string;
  files: number;
  runs: number;
  depFiles: number;
  dir: string;
  rssHook: string;
  log: (line: string) => void;
}

/** The context of `files` files in `dir`, generated unless a complete one is there. */
export function scaleContext(dir: string, files: number, depFiles: number, log: (l: string) => void): GeneratedContext {
  const ctx = join(dir, `ctx-${files}-${depFiles}`);
  const marker = `${ctx}.json`;
  if (existsSync(marker) && existsSync(ctx)) {
    try {
      return JSON.parse(readFileSync(marker, 'utf8')) as GeneratedContext;
    } catch {
      // regenerate
    }
  }
  rmSync(ctx, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  log(`scale: generating ${files} files into ${ctx} (once; reused by later runs)`);
  const g = generateContext(ctx, { files, depFiles });
  writeFileSync(marker, JSON.stringify({ ...g, paths: [] }));
  return g;
}

export async function measureScale(o: ScaleOptions): Promise<ScaleResult> {
  const ctx = scaleContext(o.dir, o.files, o.depFiles, o.log);
  const store = join(o.dir, `store-${process.pid}`);
  rmSync(store, { recursive: true, force: true });
  const build = (): Promise<ChildBuild> => runCliBuild({ cli: o.cli, args: ['--cache-dir', store, ctx.dir], rssHook: o.rssHook, env: { ...process.env, NO_COLOR: '1' } });
  const mib = (b: ChildBuild) => (b.maxRssKiB !== undefined ? b.maxRssKiB / 1024 : null);
  try {
    o.log(`scale: cold build of ${ctx.files} files`);
    const cold = await build();
    if (!cold.ok) throw new Error(`cold build failed (exit ${cold.code}): ${cold.stderr.slice(-500)}`);
    o.log(`  cold: ${Math.round(cold.wallMs)} ms, ${mib(cold)?.toFixed(0) ?? '?'} MiB`);
    const warmMs: number[] = [];
    const floorMs: number[] = [];
    const ratios: number[] = [];
    const rss: number[] = [];
    let last: ChildBuild | undefined;
    for (let i = 0; i <= o.runs; i++) {
      const w = await build();
      if (!w.ok) throw new Error(`warm build failed (exit ${w.code}): ${w.stderr.slice(-500)}`);
      const f = await timeNode([FLOOR, ctx.dir]);
      if (i === 0) continue; // warm-up: page cache, the stat cache's first rewrite
      last = w;
      warmMs.push(w.wallMs);
      floorMs.push(f);
      ratios.push(w.wallMs / f);
      if (w.maxRssKiB !== undefined) rss.push(w.maxRssKiB / 1024);
      o.log(`  warm ${i}: ${Math.round(w.wallMs)} ms, floor ${Math.round(f)} ms, ${w.cachedSteps}/${w.keyedSteps} cached, ${mib(w)?.toFixed(0) ?? '?'} MiB`);
    }
    return {
      files: ctx.files,
      coldMs: cold.wallMs,
      coldRssMiB: mib(cold),
      warmMs,
      floorMs,
      warmRssMiB: rss.length ? Math.max(...rss) : null,
      ratio: median(ratios),
      cached: last ? `${last.cachedSteps}/${last.keyedSteps}` : '?',
    };
  } finally {
    rmSync(store, { recursive: true, force: true });
  }
}
