/** A `stratum watch --progress=json` child process whose events a test can wait for. */
import { startCli, parseEvents } from './cli.js';
import type { BuildEvent } from '../../engine/events.js';
import type { ChildProcess } from 'node:child_process';

export type WatchDecision = Extract<BuildEvent, { type: 'watch-change' | 'watch-skip' }>;

export class WatchSession {
  readonly child: ChildProcess;
  readonly events: BuildEvent[] = [];
  stderr = '';
  #buf = '';
  #waiters: (() => void)[] = [];
  readonly exited: Promise<number | null>;

  constructor(args: string[]) {
    const { child, done } = startCli(['watch', '--progress=json', ...args]);
    this.child = child;
    child.stdout!.on('data', (d: Buffer) => {
      this.#buf += d.toString();
      const nl = this.#buf.lastIndexOf('\n');
      if (nl < 0) return;
      this.events.push(...parseEvents(this.#buf.slice(0, nl)));
      this.#buf = this.#buf.slice(nl + 1);
      for (const w of this.#waiters.splice(0)) w();
    });
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = done.then((r) => r.code);
  }

  /** Wait until `pred` holds for the events so far; fails with the events seen after `ms`. */
  async waitFor(what: string, pred: (events: BuildEvent[]) => boolean, ms = 20_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred(this.events)) {
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}; events: ${this.events.map((e) => e.type + ('line' in e ? `(${e.line})` : '')).join(' ')}\nstderr: ${this.stderr}`);
      }
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }

  /**
   * The watcher's first decision about changes after event `from` (an index into `events`):
   * `watch-change` (it builds) or `watch-skip` (no key changed). A test that expects nothing
   * to happen waits for this instead of sleeping: the skip proves the change was seen and let
   * go, where a sleep passes just as well when the watcher saw nothing or was still hashing.
   */
  async decision(what: string, from: number): Promise<WatchDecision> {
    const find = (ev: BuildEvent[]) => ev.slice(from).find((e): e is WatchDecision => e.type === 'watch-change' || e.type === 'watch-skip');
    await this.waitFor(what, (ev) => find(ev) !== undefined);
    return find(this.events)!;
  }

  /** Number of finished builds so far. */
  builds(): Extract<BuildEvent, { type: 'build-done' }>[] {
    return this.events.filter((e): e is Extract<BuildEvent, { type: 'build-done' }> => e.type === 'build-done');
  }

  /** Events of build number n (from its build-start to its build-done). */
  buildEvents(n: number): BuildEvent[] {
    const start = this.events.findIndex((e) => e.type === 'build-start' && e.build === n);
    if (start < 0) return [];
    const end = this.events.findIndex((e, i) => i > start && e.type === 'build-done' && e.build === n);
    return this.events.slice(start, end < 0 ? undefined : end + 1);
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGINT');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/** "H"/"M" per keyed step of a build's events, from step-start verdicts. */
export function verdicts(events: BuildEvent[]): string {
  return events
    .filter((e) => e.type === 'step-start' && e.cached !== undefined)
    .map((e) => (e.type === 'step-start' && e.cached ? 'H' : 'M'))
    .join('');
}
