/**
 * Watch mode: rebuild on every change, cancelling work a change made stale.
 *
 *            change                 debounce elapsed
 *   watching ───────▶ debouncing ─────────────────────▶ building ──▶ watching
 *      ▲   no key changed │ ▲ change (restart timer)      │ change: re-key in a dry run;
 *      │                  │                               │   the running step (or one before
 *      │                  └──────── cancelling ◀──────────┘   it) is stale → cancel it
 *      └◀─────────────────┘ (build ends; pending changes → debouncing)
 *
 * A change that leaves the running step's inputs (and everything before it) alone lets it
 * finish; the next build then starts from the first changed step by re-keying: the unchanged
 * prefix hits, so "rebuild from the first changed step" needs no special path.
 *
 * The debounce is trailing-edge (the build starts once no change came for `debounceMs`), but
 * the re-key does not wait for it: the first change of a quiet period starts a dry run at
 * once, and a later change makes it stale (aborted, and started again on the newest state).
 * When the period ends, a dry run that saw every change is used as is, and the build reuses
 * its keys (`keyMemo`): save → first rebuilt step is then the debounce plus the build's own
 * start, not the debounce plus keying everything twice.
 *
 * The watcher ignores .dockerignore'd paths, the store, and output directories, so that its
 * own writes never trigger a rebuild.
 */
import { realpathSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import type { FSWatcher } from 'chokidar';
import type { Store } from '../cache/store-types.js';
import type { StepMemo } from './steps/cached-step.js';
import { build, type BuildOptions, type BuildResult } from './build.js';
import { ContextReader, type CtxEntry } from './context.js';
import { loadDockerignore, type IgnoreMatcher } from './dockerignore.js';
import { EventBus, type BuildEvent } from './events.js';

interface RunningBuild {
  controller: AbortController;
  /** Set right after build() is called. */
  promise: Promise<BuildResult> | undefined;
  /** Cache keys of the steps so far, by index. */
  keys: Map<number, string>;
  /** The step running now. */
  index: number;
}

/** A dry run's verdict: its result, the steps that missed, and what the build may reuse. */
interface DryRun {
  result: BuildResult;
  misses: number[];
  memo: Map<number, StepMemo>;
}

/** A dry run started while the debounce runs; valid while no change came after `gen`. */
interface Speculation {
  gen: number;
  stop: AbortController;
  done: Promise<DryRun | undefined>;
}

/** Past chokidar's 50 ms throttle of a path's change events (see Watcher#recheckLater). */
const RECHECK_MS = 60;

function sameEntry(a: CtxEntry | null, b: CtxEntry | null): boolean {
  if (a === null || b === null) return a === b;
  return a.type === b.type && a.mode === b.mode && a.size === b.size && a.digest === b.digest && a.target === b.target;
}

export type WatchState = 'watching' | 'debouncing' | 'building' | 'cancelling' | 'stopped';

export interface WatchOptions extends Omit<BuildOptions, 'bus' | 'signal' | 'build' | 'context' | 'dryRun' | 'onStepKey'> {
  bus: EventBus;
  /** Quiet period after the last change before a build starts. */
  debounceMs?: number;
}

const ALLOWED: Record<WatchState, WatchState[]> = {
  watching: ['debouncing', 'building', 'stopped'],
  debouncing: ['debouncing', 'building', 'watching', 'stopped'],
  building: ['watching', 'cancelling', 'debouncing', 'stopped'],
  cancelling: ['debouncing', 'building', 'stopped'],
  stopped: [],
};

/** Default debounce: long enough to coalesce an editor's write+rename of one save (a few ms
 *  apart) and a `git checkout` burst, short enough to feel immediate. See bench/RESULTS.md. */
export const DEFAULT_DEBOUNCE_MS = 40;

export class Watcher {
  #state: WatchState = 'watching';
  #opts: WatchOptions;
  #store: Store;
  #bus: EventBus;
  #fs: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #pending = new Set<string>();
  #dockerfileChanged = false;
  #force = false;
  #buildNo = 0;
  #running: RunningBuild | undefined;
  #contextReal: string;
  #dockerfileReal: string;
  #ignore: IgnoreMatcher;
  #excluded: string[];
  /** One context reader for the whole session: what the watcher did not report as changed
   *  is not stat'ed again. Replaced when .dockerignore changes; cleared by `r`/`f`. */
  #ctx: ContextReader | undefined;
  #stopped: Promise<void>;
  #resolveStopped!: () => void;
  /** Counts the changes seen: a dry run is current while it has not moved. */
  #gen = 0;
  #spec: Speculation | undefined;
  /** #flush is deciding what to build: no new speculation starts under it. */
  #flushing = false;
  /** Keys of the last finished build and whether it succeeded: what is published now. */
  #last: { ok: boolean; keys: (string | undefined)[] } | undefined;
  /** Files chokidar reported changed, to be looked at again past its throttle (RECHECK_MS). */
  readonly #rechecks = new Map<string, NodeJS.Timeout>();

  constructor(opts: WatchOptions) {
    this.#opts = opts;
    this.#store = opts.store;
    this.#bus = opts.bus;
    this.#contextReal = realpathSync(opts.contextDir);
    this.#dockerfileReal = resolve(opts.dockerfile);
    this.#ignore = loadDockerignore(this.#contextReal, this.#dockerfileReal);
    this.#excluded = [this.#store.root, ...(opts.outputs ?? []).map((o) => resolve(o.dest))].map((p) => {
      try {
        return realpathSync(p);
      } catch {
        return resolve(p);
      }
    });
    this.#stopped = new Promise((r) => (this.#resolveStopped = r));
    // Track which step is running, for the staleness check.
    this.#bus.on((e) => {
      if (e.type === 'step-start' && this.#running) this.#running.index = e.index;
    });
  }

  get state(): WatchState {
    return this.#state;
  }

  #to(next: WatchState): void {
    if (!ALLOWED[this.#state].includes(next)) throw new Error(`watch: impossible transition ${this.#state} → ${next}`);
    this.#state = next;
    this.#bus.emit({ type: 'watch-state', state: next });
  }

  /** Start watching and run the first build. Resolves when stop() has finished. */
  async start(): Promise<void> {
    const { watch } = await import('chokidar');
    const dockerignoreFile = this.#ignore.source;
    this.#fs = watch([this.#contextReal, this.#dockerfileReal, ...(dockerignoreFile ? [dockerignoreFile] : [])], {
      ignoreInitial: true,
      ignored: (p: string) => this.#ignored(p),
    });
    this.#fs.on('all', (event: string, p: string) => {
      this.#onChange(p);
      if (event === 'change') this.#recheckLater(p);
    });
    this.#fs.on('error', (err: unknown) => this.#bus.emit({ type: 'warning', message: `watcher: ${String(err)}` }));
    await new Promise<void>((r) => this.#fs!.once('ready', () => r()));
    void this.#build();
    return this.#stopped;
  }

  #ignored(abs: string): boolean {
    if (abs === this.#dockerfileReal || abs === this.#ignore.source) return false;
    for (const x of this.#excluded) if (abs === x || abs.startsWith(x + sep)) return true;
    // Outputs are assembled in `.DEST.stratum-*` siblings and swapped in: our own writes.
    if (basename(abs).includes('.stratum-') || abs.includes('.stratum-')) {
      for (const x of this.#excluded) if (abs.startsWith(join(dirname(x), `.${basename(x)}.stratum-`))) return true;
    }
    const rel = relative(this.#contextReal, abs);
    if (rel === '' || rel.startsWith('..')) return false;
    const posixRel = rel.split(sep).join('/');
    if (posixRel === '.git' || posixRel.startsWith('.git/')) return true;
    // Don't prune directories when `!` exceptions could re-include something beneath them.
    return this.#ignore.ignores(posixRel) && !this.#ignore.mayReinclude;
  }

  #reader(): ContextReader {
    if (!this.#ctx) {
      const inside = this.#excluded.map((x) => relative(this.#contextReal, x)).filter((r) => r !== '' && !r.startsWith('..') && !r.startsWith(sep));
      this.#ctx = new ContextReader(this.#contextReal, this.#ignore, this.#store, inside.map((r) => r.split(sep).join('/')));
    }
    return this.#ctx;
  }

  /**
   * chokidar reports a file's change and then drops that file's change events for 50 ms (its
   * `_throttle('change', path, 50)`): a second write inside the window (a formatter after the
   * save, a tool writing twice) would never reach us, and what the reader hashed in between
   * would be built and published as current. So each reported file is looked at again once
   * the window has passed: re-fingerprinted (the stat cache's racy rule re-reads a file
   * written in the same instant), and a difference from what the reader had is a change.
   */
  #recheckLater(abs: string): void {
    clearTimeout(this.#rechecks.get(abs));
    const timer = setTimeout(() => {
      this.#rechecks.delete(abs);
      if (this.#state === 'stopped') return;
      const ctx = this.#ctx;
      const rel = this.#relOf(abs);
      if (!ctx || rel.startsWith('..')) return;
      // Not read since the event: the next read is fresh anyway.
      const before = ctx.peek(rel);
      if (before === undefined) return;
      ctx.invalidate([rel]);
      const now = ctx.entry(rel);
      if (sameEntry(before, now)) return;
      this.#onChange(abs);
      this.#recheckLater(abs);
    }, RECHECK_MS);
    timer.unref();
    this.#rechecks.set(abs, timer);
  }

  /** A watched path as a context path (`/`-separated; starts with `..` when outside). */
  #relOf(abs: string): string {
    return relative(this.#contextReal, abs).split(sep).join('/');
  }

  #onChange(abs: string): void {
    if (this.#state === 'stopped') return;
    this.#gen++;
    if (abs === this.#dockerfileReal || abs === this.#ignore.source) {
      this.#dockerfileChanged = true;
      if (abs === this.#ignore.source) {
        this.#ignore = loadDockerignore(this.#contextReal, this.#dockerfileReal);
        this.#ctx = undefined;
      }
    }
    const rel = this.#relOf(abs);
    if (!rel.startsWith('..')) this.#ctx?.invalidate([rel]);
    if (this.#ignore.ignores(rel) && abs !== this.#dockerfileReal) return;
    this.#pending.add(rel.startsWith('..') ? basename(abs) : rel);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#state === 'watching' || this.#state === 'debouncing') this.#to('debouncing');
    this.#timer = setTimeout(() => void this.#flush(), this.#opts.debounceMs ?? DEFAULT_DEBOUNCE_MS);
    this.#speculate();
  }

  /** Start re-keying now, while the debounce still coalesces changes; a running dry run made
   *  stale by a change is aborted (it starts again, on the newest state, once it has ended). */
  #speculate(): void {
    if (this.#state !== 'debouncing' || this.#running || this.#flushing) return;
    const cur = this.#spec;
    if (cur) {
      if (cur.gen !== this.#gen) cur.stop.abort();
      return;
    }
    const stop = new AbortController();
    const spec: Speculation = { gen: -1, stop, done: undefined! };
    spec.done = new Promise<DryRun | undefined>((resolve) =>
      // The next turn: changes reported in the same turn (a write and its rename) are one.
      setImmediate(() => {
        if (stop.signal.aborted || this.#state === 'stopped') return resolve(undefined);
        spec.gen = this.#gen;
        this.#dryRun(true, stop).then(resolve, () => resolve(undefined));
      }),
    );
    this.#spec = spec;
    void spec.done.then(() => {
      if (this.#spec !== spec || spec.gen === this.#gen) return;
      this.#spec = undefined;
      this.#speculate();
    });
  }

  /** The speculative dry run, if it saw every change so far (waiting for it to finish). */
  async #takeSpeculation(): Promise<DryRun | undefined> {
    const spec = this.#spec;
    this.#spec = undefined;
    if (!spec) return undefined;
    if (spec.gen !== this.#gen) spec.stop.abort();
    const r = await spec.done;
    return r && spec.gen === this.#gen ? r : undefined;
  }

  /** Rebuild now (the `r` key), or without the cache (`f`). */
  rebuild(force: boolean): void {
    if (this.#state === 'stopped') return;
    this.#force ||= force;
    this.#dockerfileChanged = true; // re-plan too
    this.#ctx?.invalidate(); // and look at every file again
    this.#gen++;
    if (this.#running) this.#cancel();
    else void this.#flush();
  }

  async #flush(): Promise<void> {
    this.#timer = undefined;
    if (this.#state === 'stopped') return;
    // Changes during the decision below (the debounce is shorter than a slow dry run): they
    // stay pending, and are looked at once it has started its build or skipped.
    if (this.#flushing) return this.#schedule();
    const files = [...this.#pending].sort();
    this.#pending.clear();
    const dockerfile = this.#dockerfileChanged;
    this.#dockerfileChanged = false;
    if (this.#running) {
      this.#spec?.stop.abort();
      this.#spec = undefined;
      // A build is running: is the step it runs (or one before it) made stale by the change?
      // Either way the change is kept for the next build, which reports it with its first
      // changed step once the running one has ended.
      for (const f of files) this.#pending.add(f);
      this.#dockerfileChanged ||= dockerfile;
      if (await this.#isStale()) this.#cancel();
      return;
    }
    if (!files.length && !dockerfile && !this.#force) {
      this.#spec?.stop.abort();
      this.#spec = undefined;
      return;
    }
    // Only the first miss matters here: past it the real build decides, so the dry run stops
    // there instead of laying out the rest (it was most of save → step-start). Usually it ran
    // during the debounce already.
    let dry: DryRun | undefined;
    this.#flushing = true;
    try {
      dry = await this.#takeSpeculation();
      const gen = this.#gen;
      dry ??= await this.#dryRun(true);
      // A change while this dry run ran: the build re-keys instead of trusting it.
      if (gen !== this.#gen) dry.memo.clear();
    } finally {
      this.#flushing = false;
    }
    if (this.state === 'stopped') return;
    const { result, misses, memo } = dry;
    const fromStep = misses.length ? Math.min(...misses) : undefined;
    if (fromStep === undefined && !dockerfile && !this.#force && this.#publishedMatches(result.keys)) {
      // Saved without a change, or a change no step reads: every key is the one the last,
      // successful build published. Keys that all hit but differ from it (an edit undone
      // back to content built before, or a failure undone) still build, to publish them.
      this.#to('watching');
      this.#bus.emit({ type: 'watch-skip', files, reason: 'no key changed' });
      // The dry run left the stat cache to us (no build follows to write it).
      this.#ctx?.save();
      return;
    }
    this.#bus.emit({ type: 'watch-change', files, ...(fromStep !== undefined ? { fromStep } : {}), ...(dockerfile ? { dockerfile } : {}) });
    await this.#build(memo);
  }

  /** Keys of the current inputs, computed without executing anything; with `untilMiss`, only
   *  up to the first miss (later keys are then undefined). `stop` also ends it early. */
  async #dryRun(untilMiss = false, stop = new AbortController()): Promise<DryRun> {
    const bus = new EventBus();
    const misses: number[] = [];
    const memo = new Map<number, StepMemo>();
    bus.on((e: BuildEvent) => {
      if ((e.type === 'step-done' || e.type === 'step-start') && e.cached === false && !(e.type === 'step-done' && e.metadata) && !misses.includes(e.index)) {
        misses.push(e.index);
        if (untilMiss) stop.abort();
      }
    });
    const result = await build({ ...this.#opts, bus, dryRun: true, noCache: false, context: this.#reader(), keyMemo: memo, ...(untilMiss ? { signal: stop.signal } : {}) });
    return { result, misses, memo };
  }

  #publishedMatches(keys: readonly (string | undefined)[]): boolean {
    const last = this.#last;
    if (!last?.ok || last.keys.length !== keys.length) return false;
    return keys.every((k, i) => k === last.keys[i]);
  }

  async #isStale(): Promise<boolean> {
    const run = this.#running;
    if (!run) return false;
    const { result, misses } = await this.#dryRun();
    if (!result.ok) return true; // the Dockerfile no longer plans: stop wasting time on the old one
    if (misses.some((i) => i < run.index)) return true;
    const key = run.keys.get(run.index);
    return key !== undefined && result.keys[run.index - 1] !== key;
  }

  #cancel(): void {
    if (!this.#running || this.#state === 'cancelling') return;
    this.#to('cancelling');
    this.#running.controller.abort();
  }

  async #build(memo?: Map<number, StepMemo>): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#to('building');
    const controller = new AbortController();
    const force = this.#force;
    this.#force = false;
    // The record exists before build() is called: a build emits its first events synchronously.
    const running: RunningBuild = { controller, promise: undefined, keys: new Map<number, string>(), index: 0 };
    this.#running = running;
    const promise = build({
      ...this.#opts,
      bus: this.#bus,
      signal: controller.signal,
      build: ++this.#buildNo,
      changedIsStale: true,
      noCache: force || this.#opts.noCache === true,
      context: this.#reader(),
      onStepKey: (index, key) => running.keys.set(index, key),
      ...(memo?.size && !force ? { keyMemo: memo } : {}),
    });
    running.promise = promise;
    let result: BuildResult;
    try {
      result = await promise;
    } catch (err) {
      this.#bus.emit({ type: 'warning', message: `internal error during build: ${err instanceof Error ? err.message : String(err)}` });
      result = { ok: false, exitCode: 3, cancelled: false, hits: 0, misses: 0, ms: 0, savedMs: 0, keys: [] };
    }
    this.#running = undefined;
    if (!result.cancelled) this.#last = { ok: result.ok, keys: [...result.keys] };
    if (this.state === 'stopped') return;
    if (result.changedDuring !== undefined) {
      // Saved while it was copied: its watcher event may not have come yet (or chokidar's
      // throttle ate it), so the file is looked at again here, and the next build follows.
      const rel = this.#relOf(result.changedDuring);
      if (rel.startsWith('..')) {
        this.#ctx?.invalidate();
        this.#dockerfileChanged = true;
      } else {
        this.#ctx?.invalidate([rel]);
        this.#pending.add(rel);
      }
    }
    if (result.cancelled || this.#pending.size || this.#dockerfileChanged || this.#force) {
      this.#to('debouncing');
      this.#schedule();
      return;
    }
    this.#to('watching');
  }

  /** Stop watching; cancel a running build and wait for its processes to be gone. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    if (this.#timer) clearTimeout(this.#timer);
    for (const t of this.#rechecks.values()) clearTimeout(t);
    this.#rechecks.clear();
    const running = this.#running;
    const spec = this.#spec;
    this.#spec = undefined;
    this.#to('stopped');
    running?.controller.abort();
    spec?.stop.abort();
    await running?.promise?.catch(() => undefined);
    await spec?.done;
    await this.#fs?.close();
    this.#resolveStopped();
  }
}
