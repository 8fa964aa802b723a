/**
 * Who owns a lock or a lease: a process, named by its pid **and its start time**, so that a
 * pid the kernel has since handed to another process is not mistaken for the owner.
 *
 * The start time is field 22 (`starttime`, clock ticks since boot) of `/proc/<pid>/stat`;
 * it never changes for the life of a process and two processes with one pid never share it.
 * Where `/proc` is missing (not Linux), the start time is '' and liveness falls back to
 * `kill(pid, 0)`, which cannot tell a reused pid: there a stale lock is broken only by age.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

export interface ProcessOwner {
  pid: number;
  /** `starttime` from /proc/<pid>/stat, '' when unknown. */
  start: string;
  host: string;
}

/** The start time of `pid`, or undefined when there is no such process. '' when /proc is
 *  unavailable but the process exists. */
export function processStart(pid: number): string | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'ESRCH') {
      // No /proc entry: either no such process, or no /proc at all.
      return procMounted() ? undefined : killAlive(pid) ? '' : undefined;
    }
    return killAlive(pid) ? '' : undefined;
  }
  // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); starttime is field 22. A zombie is dead for our purposes.
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  return fields[19] ?? '';
}

let procChecked: boolean | undefined;
function procMounted(): boolean {
  if (procChecked === undefined) {
    try {
      readFileSync('/proc/self/stat');
      procChecked = true;
    } catch {
      procChecked = false;
    }
  }
  return procChecked;
}

function killAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: unknown }).code === 'EPERM';
  }
}

let self: ProcessOwner | undefined;

/** This process. */
export function selfOwner(): ProcessOwner {
  self ??= { pid: process.pid, start: processStart(process.pid) ?? '', host: hostname() };
  return self;
}

/** Whether `o` is a running process (same pid, same start time). An owner on another host
 *  (a store on a shared disk) cannot be checked and counts as alive. */
export function ownerAlive(o: ProcessOwner): boolean {
  if (o.host !== selfOwner().host) return true;
  if (o.pid === process.pid) return o.start === selfOwner().start;
  const start = processStart(o.pid);
  if (start === undefined) return false;
  return o.start === '' || start === '' || start === o.start;
}

/** Parse an owner out of JSON text; undefined when it is not one. */
export function parseOwner(v: unknown): ProcessOwner | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.pid !== 'number' || !Number.isInteger(o.pid) || o.pid <= 0) return undefined;
  if (typeof o.start !== 'string' || typeof o.host !== 'string') return undefined;
  return { pid: o.pid, start: o.start, host: o.host };
}
