/**
 * One build as a real child process of the CLI, as a user runs it: `node <cli> build
 * --progress=json …`. Wall time is taken around the whole process (spawn → exit), so node's
 * start-up and module loading are measured with the build.
 *
 * Peak RSS: node has no rusage for children, and /proc/<pid>/status (VmHWM) is gone by the
 * time 'exit' fires. So the child is started with `--require <hook>`, a five-line CommonJS
 * file that writes `process.resourceUsage().maxRSS` to fd 3 at exit. Loading it costs well
 * under a millisecond; fd 3 is close-on-exec, so RUN commands never inherit it, and their
 * memory is not counted (it is the engine's footprint that is measured).
 *
 * Engine-free: nothing here imports from engine/ or cache/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The few fields of the NDJSON events (engine/events.ts) the benchmarks read. */
export interface BenchEvent {
  type: string;
  cached?: boolean;
  ok?: boolean;
  ms?: number;
  hits?: number;
  misses?: number;
  index?: number;
  instruction?: string;
  time?: number;
  [k: string]: unknown;
}

export interface ChildBuild {
  /** Spawn → exit, in ms. */
  wallMs: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  ok: boolean;
  /** The engine's own `build-done.ms` (without process start-up and exit). */
  engineMs: number | undefined;
  /** Steps with a cache key (RUN, COPY, ADD, WORKDIR) and how many of them hit. */
  keyedSteps: number;
  cachedSteps: number;
  /** Peak resident set of the CLI process in KiB, when the hook reported it. */
  maxRssKiB: number | undefined;
  events: BenchEvent[];
  stderr: string;
}

const HOOK = `'use strict';
// Written by stratum's benchmarks: report this process's peak RSS on fd 3 at exit.
process.on('exit', () => {
  try { require('fs').writeSync(3, JSON.stringify({ maxRSS: process.resourceUsage().maxRSS }) + '\\n'); } catch {}
});
`;

/** Write the RSS hook into `dir` and return its path (pass it as `rssHook`). */
export function writeRssHook(dir: string): string {
  const path = join(dir, 'rss-hook.cjs');
  writeFileSync(path, HOOK);
  return path;
}

export interface ChildBuildOptions {
  /** dist/cli/main.js */
  cli: string;
  /** Arguments after `build --progress=json`. */
  args: string[];
  rssHook?: string;
  /** Extra node flags (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Called with the child right after spawn, e.g. to kill it on Ctrl-C. */
  onSpawn?: (child: ChildProcess) => void;
}

/** Parse NDJSON: lines that are not JSON objects are skipped. */
export function parseNdjson(text: string): BenchEvent[] {
  const out: BenchEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as BenchEvent);
    } catch {
      // not an event
    }
  }
  return out;
}

/** Run `stratum build --progress=json ARGS` and measure it. Never rejects for a failed build:
 *  the result says `ok: false` with the exit code and stderr. */
export function runCliBuild(o: ChildBuildOptions): Promise<ChildBuild> {
  const nodeArgs = [...(o.nodeArgs ?? []), ...(o.rssHook ? ['--require', o.rssHook] : [])];
  const t0 = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, o.cli, 'build', '--progress=json', ...o.args], {
    cwd: o.cwd ?? process.cwd(),
    env: o.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  o.onSpawn?.(child);
  let wallMs = NaN;
  let stdout = '';
  let stderr = '';
  let rss = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const fd3 = child.stdio[3] as NodeJS.ReadableStream | null;
  fd3?.setEncoding('utf8');
  fd3?.on('data', (d: string) => (rss += d));
  child.on('exit', () => {
    wallMs = performance.now() - t0;
  });
  return new Promise((resolve) => {
    child.on('error', (err) => {
      stderr += `\n${err.message}`;
    });
    child.on('close', (code, signal) => {
      if (Number.isNaN(wallMs)) wallMs = performance.now() - t0;
      const events = parseNdjson(stdout);
      const done = events.find((e) => e.type === 'build-done');
      let keyedSteps = 0;
      let cachedSteps = 0;
      for (const e of events) {
        if (e.type !== 'step-start' || e.cached === undefined) continue;
        keyedSteps++;
        if (e.cached) cachedSteps++;
      }
      let maxRssKiB: number | undefined;
      try {
        const v = (JSON.parse(rss.trim().split('\n').pop() || 'null') as { maxRSS?: number } | null)?.maxRSS;
        if (typeof v === 'number') maxRssKiB = v;
      } catch {
        maxRssKiB = undefined;
      }
      resolve({
        wallMs,
        code,
        signal,
        ok: code === 0 && done?.ok === true,
        engineMs: typeof done?.ms === 'number' ? done.ms : undefined,
        keyedSteps,
        cachedSteps,
        maxRssKiB,
        events,
        stderr,
      });
    });
  });
}

/** Wall time of one `node ARGS` process, e.g. `node -e 0`, the floor of every CLI run. */
export function timeNode(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { stdio: 'ignore', env });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`node ${args.join(' ')} exited with ${code}`))));
  });
}
