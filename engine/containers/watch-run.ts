/**
 * `watch --run`: after every successful build that changed the image, the container of the
 * previous image is stopped (stop signal, grace, SIGKILL) and a new one started from the new
 * image with the same options and volumes (named ones by name; the image's anonymous ones are
 * handed over by target path). A failed or cancelled build leaves the running container alone.
 *
 *   idle ──image changed──▶ stopping old ──▶ starting new ──▶ running ──▶ (next change)
 *
 * Restarts are serialised: a build that finishes while one is under way queues the latest
 * image only. The container is supervised by this process (it dies with it) and its output
 * goes to its log (`stratum logs NAME`); states are `container-state` events.
 */
import type { Store } from '../../cache/store-types.js';
import type { EventBus } from '../events.js';
import type { SandboxCaps } from '../sandbox/detect.js';
import { createContainer, type RunOptions } from './create.js';
import { findContainer, saveContainer, type ContainerRecord } from './records.js';
import { removeContainer, stopContainer, superviseContainer } from './supervise.js';
import { lineSplitter } from '../line-splitter.js';
import { Writable } from 'node:stream';

export interface WatchRunOptions extends Omit<RunOptions, 'image' | 'name'> {
  image: string;
  name: string;
  cwd: string;
}

export class ContainerRunner {
  #current: { rec: ContainerRecord; abort: AbortController; done: Promise<number> } | undefined;
  #chain: string | undefined;
  #queue: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(
    private readonly store: Store,
    private readonly caps: SandboxCaps,
    private readonly bus: EventBus,
    private readonly opts: WatchRunOptions,
  ) {
    bus.on((e) => {
      if (e.type === 'build-done' && e.ok && !e.cancelled) this.#queue = this.#queue.then(() => this.#maybeRestart());
    });
  }

  #emit(rec: ContainerRecord, state: 'starting' | 'running' | 'stopping' | 'exited' | 'failed', extra: { exitCode?: number | null; message?: string } = {}): void {
    this.bus.emit({ type: 'container-state', name: rec.name, id: rec.id, image: rec.image.name, state, ...extra });
  }

  async #maybeRestart(): Promise<void> {
    if (this.#stopped) return;
    const img = this.store.getImage(this.opts.image);
    if (!img || img.chain === this.#chain) return;
    const old = this.#current;
    let anon: ContainerRecord['config']['mounts'] = [];
    if (old) {
      anon = old.rec.config.mounts.filter((m) => m.type === 'volume' && m.anonymous);
      this.#emit(old.rec, 'stopping');
      old.abort.abort();
      await old.done;
      await removeContainer(this.store, this.caps, old.rec, { volumes: false });
      this.#current = undefined;
    } else {
      // A container of this name left by an earlier session.
      const stale = findContainer(this.store, this.opts.name);
      if (stale) {
        if (stale.state.status === 'running') await stopContainer(this.store, stale, stale.config.stopTimeoutS);
        await removeContainer(this.store, this.caps, stale, { volumes: false });
      }
    }
    this.#chain = img.chain;
    let rec: ContainerRecord;
    try {
      rec = createContainer(this.store, { ...this.opts }, this.opts.cwd);
    } catch (err) {
      this.bus.emit({ type: 'container-state', name: this.opts.name, id: '', image: this.opts.image, state: 'failed', message: err instanceof Error ? err.message : String(err) });
      return;
    }
    // The image's anonymous volumes carry over, by mount path.
    rec.config.mounts = rec.config.mounts.map((m) => {
      if (m.type !== 'volume' || !m.anonymous) return m;
      const prev = anon.find((a) => a.target === m.target);
      return prev ?? m;
    });
    saveContainer(this.store, rec);
    this.#emit(rec, 'starting');
    const abort = new AbortController();
    let started!: () => void;
    const up = new Promise<void>((r) => (started = r));
    // Its output also comes here, line by line, as `container-log` events (the UI's last lines).
    const lines = (stream: 'stdout' | 'stderr') => {
      const split = lineSplitter((line) => this.bus.emit({ type: 'container-log', name: rec.name, stream, line }));
      return new Writable({ write(chunk: Buffer, _enc, cb) { split.data(chunk); cb(); }, final(cb) { split.end(); cb(); } });
    };
    const stdout = lines('stdout');
    const stderr = lines('stderr');
    const done = superviseContainer(this.store, this.caps, rec.id, { signal: abort.signal, onStarted: () => started(), stdout, stderr }).then(
      (code) => {
        stdout.end();
        stderr.end();
        this.#emit(rec, 'exited', { exitCode: code });
        return code;
      },
      (err: unknown) => {
        this.#emit(rec, 'failed', { message: err instanceof Error ? err.message : String(err) });
        return 125;
      },
    );
    this.#current = { rec, abort, done };
    const first = await Promise.race([up.then(() => 'up' as const), done.then(() => 'done' as const)]);
    if (first === 'up' && !abort.signal.aborted) this.#emit(rec, 'running');
  }

  /** Stop the container (the watch session ends); it is kept, exited, for `stratum logs`. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#queue;
    const cur = this.#current;
    if (!cur) return;
    this.#emit(cur.rec, 'stopping');
    cur.abort.abort();
    await cur.done;
  }
}
