/** Run the real CLI (dist/cli/main.js) as a child process, as a user would. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BuildEvent } from '../../engine/events.js';

export const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as NDJSON events (lines that aren't JSON are skipped). */
  events: BuildEvent[];
}

export function parseEvents(text: string): BuildEvent[] {
  const out: BuildEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let parsed: { v?: number } & BuildEvent;
    try {
      parsed = JSON.parse(line) as { v?: number } & BuildEvent;
    } catch {
      continue; // not an event
    }
    // Every event carries the schema version (docs/events.md); tests compare the event itself.
    const { v, ...event } = parsed;
    if (v !== undefined && v !== 1) throw new Error(`event schema v${v}, expected 1: ${line}`);
    out.push(event as BuildEvent);
  }
  return out;
}

export function startCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: opts.cwd ?? process.cwd(),
    env: { ...process.env, NO_COLOR: '1', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, events: parseEvents(stdout) }));
  });
  return { child, done };
}

export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return startCli(args, opts).done;
}

/** step-done events of a result, by index. */
export function stepsDone(r: CliResult): Extract<BuildEvent, { type: 'step-done' }>[] {
  return r.events.filter((e): e is Extract<BuildEvent, { type: 'step-done' }> => e.type === 'step-done');
}

export function buildDone(r: CliResult): Extract<BuildEvent, { type: 'build-done' }> | undefined {
  return r.events.find((e): e is Extract<BuildEvent, { type: 'build-done' }> => e.type === 'build-done');
}
