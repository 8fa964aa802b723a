/**
 * Watch latency: from saving a file to the first rebuilt step starting, as a user of
 * `stratum watch` feels it. The watcher runs as a real child (`watch --progress=json`); each
 * edit appends a new change to one source file (see `Mutation`), and the latency is the
 * `time` of the first `step-start` with `cached: false` after the save, minus the moment of
 * the save (both Date.now(), on one machine). The next edit waits for that build to finish.
 *
 * In the same run a chokidar watcher of the bench's own (same options as `stratum watch`:
 * the whole context, ignoreInitial) times save → its first event for the file: the part of
 * the latency that is the file-system notification, not stratum. `build-start` is timed too,
 * so the rest splits into "debounce and re-key" and "the build up to its first miss".
 * Engine-free (chokidar is the watcher's own dependency, not engine code).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import { watch } from 'chokidar';
import type { BenchEvent } from './child.js';
import { Mutation } from './tree.js';

export interface WatchLatency {
  edits: number;
  /** Save → first rebuilt step started, per edit, ms. */
  samplesMs: number[];
  /** Save → the bench's own chokidar watcher reported the file, per edit, ms. */
  chokidarMs: number[];
  /** Save → `build-start` of the rebuild, per edit, ms. */
  buildStartMs: number[];
  /** Edits that got no rebuilt step in time. */
  missed: number;
}

export interface WatchLatencyOptions {
  cli: string;
  context: string;
  store: string;
  /** The file each edit changes (inside `context`). */
  file: string;
  edits: number;
  /** Extra CLI arguments (e.g. `--debounce 40`). */
  args?: string[];
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export async function measureWatchLatency(o: WatchLatencyOptions): Promise<WatchLatency> {
  const child = spawn(process.execPath, [o.cli, 'watch', '--progress=json', '--cache-dir', o.store, ...(o.args ?? []), o.context], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: o.env ?? process.env,
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const waiters: { pred: (e: BenchEvent) => boolean; resolve: (e: BenchEvent | undefined) => void; timer: NodeJS.Timeout }[] = [];
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    let e: BenchEvent;
    try {
      e = JSON.parse(line) as BenchEvent;
    } catch {
      return;
    }
    for (const w of [...waiters]) {
      if (!w.pred(e)) continue;
      clearTimeout(w.timer);
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(e);
    }
  });
  let exited = false;
  const exit = new Promise<void>((r) => child.on('exit', () => ((exited = true), r())));
  const next = (pred: (e: BenchEvent) => boolean, ms: number) =>
    new Promise<BenchEvent | undefined>((resolve) => {
      const timer = setTimeout(() => {
        waiters.splice(waiters.findIndex((w) => w.timer === timer), 1);
        resolve(undefined);
      }, ms);
      waiters.push({ pred, resolve, timer });
    });
  const timeout = o.timeoutMs ?? 60_000;
  const m = new Mutation(o.file);
  const samples: number[] = [];
  const chokidarMs: number[] = [];
  const buildStartMs: number[] = [];
  let missed = 0;
  // The notification floor, measured beside the real watcher on the same saves.
  const target = resolve(o.file);
  let onFsEvent: ((t: number) => void) | undefined;
  const own = watch(resolve(o.context), { ignoreInitial: true });
  own.on('all', (_ev: string, p: string) => {
    if (resolve(p) !== target || !onFsEvent) return;
    const f = onFsEvent;
    onFsEvent = undefined;
    f(Date.now());
  });
  await new Promise<void>((r) => own.once('ready', () => r()));
  try {
    const first = await next((e) => e.type === 'build-done', 10 * timeout);
    if (!first) throw new Error(`stratum watch did not finish its first build${exited ? ` (it exited: ${stderr.trim().split('\n').slice(-5).join(' | ')})` : ''}`);
    if (first.ok !== true) throw new Error(`stratum watch: the first build failed: ${stderr.trim().split('\n').slice(-5).join(' | ')}`);
    for (let i = 0; i < o.edits; i++) {
      await new Promise((r) => setTimeout(r, 150)); // let the watcher settle between edits
      const rebuilt = next((e) => e.type === 'step-start' && e.cached === false, timeout);
      const started = next((e) => e.type === 'build-start', timeout);
      const done = next((e) => e.type === 'build-done', timeout);
      const notified = new Promise<number | undefined>((r) => {
        const t = setTimeout(() => ((onFsEvent = undefined), r(undefined)), timeout);
        onFsEvent = (at) => (clearTimeout(t), r(at));
      });
      const saved = Date.now();
      m.change();
      const e = await rebuilt;
      if (e && typeof e.time === 'number') samples.push(Math.max(0, e.time - saved));
      else missed++;
      const s = await started;
      if (s && typeof s.time === 'number') buildStartMs.push(Math.max(0, s.time - saved));
      const at = await notified;
      if (at !== undefined) chokidarMs.push(at - saved);
      await done;
    }
  } finally {
    await own.close();
    m.restore();
    if (!exited) child.kill('SIGINT');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exit;
    clearTimeout(killer);
  }
  return { edits: o.edits, samplesMs: samples, chokidarMs, buildStartMs, missed };
}
