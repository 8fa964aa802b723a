/**
 * `stratum exec`: a command inside a running container, through the sandbox helper's `enter`
 * operation (as nsenter(1) does: the user, IPC, UTS, PID and mount namespaces of its PID 1, and
 * the network one for --network=none), in its root; the working directory, user and
 * environment are the container's unless -w, -u, -e say otherwise. With a tty, the command
 * is the session leader on a new pty of the container's devpts (/dev/pts/N inside).
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { SandboxCaps } from '../sandbox/detect.js';
import { spawnNs, type Rec } from '../sandbox/ns.js';
import type { ContainerRecord } from './records.js';
import { shellStatus } from '../process-group.js';

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const s = readFileSync(`/proc/${n}/stat`, 'utf8');
      if (Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(n));
    } catch {
      // gone
    }
  }
  return out;
}

/** The host pid of the container's PID 1: the helper's grandchild (helper → userns child → init). */
export function containerInitPid(rec: ContainerRecord): number | undefined {
  const p = rec.state.helperPid;
  if (p === undefined) return undefined;
  const c = childrenOf(p)[0];
  return c === undefined ? undefined : childrenOf(c)[0];
}

/** A file of the running container's root (its writable layer over the image), as its PID 1
 *  sees it: for resolving `exec -u NAME` in the container's current /etc/passwd. */
export function readInContainer(pid: number): (path: string) => string | undefined {
  return (p) => {
    try {
      return readFileSync(`/proc/${pid}/root/${p}`, 'utf8');
    } catch {
      return undefined;
    }
  };
}

export interface ExecOptions {
  argv: string[];
  env: string[];
  user?: { uid: number; gid: number; groups?: number[] };
  workdir?: string;
  /** `-i`: the command's stdin is this process's. */
  interactive?: boolean;
  /** `-t`: a pty; `onResize` forwards the user's window size. */
  tty?: { rows: number; cols: number; onResize(fn: (rows: number, cols: number) => void): () => void };
}

export function execInContainer(caps: SandboxCaps, rec: ContainerRecord, pid: number, o: ExecOptions): Promise<number> {
  const env: Record<string, string> = { ...rec.config.env, ...(o.tty ? { TERM: 'xterm' } : {}) };
  for (const kv of o.env) {
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
    else if (process.env[kv] !== undefined) env[kv] = process.env[kv]!;
  }
  const u = o.user ?? rec.config.user;
  const recs: Rec[] = [['op', 'enter'], ['target', pid], ['cwd', o.workdir ?? rec.config.cwd], ['argv', ...o.argv]];
  if (rec.config.network === 'none') recs.push(['netnone']);
  if (u && (u.uid !== 0 || u.gid !== 0 || u.groups?.length)) recs.push(['user', u.uid, u.gid, ...(u.groups ?? [])]);
  for (const [k, v] of Object.entries(env)) recs.push(['env', k, v]);
  if (o.tty) recs.push(['tty', o.tty.rows || 24, o.tty.cols || 80], ['ctl']);
  const child = spawnNs(caps.tools, caps.mapping, recs, { stdin: o.interactive ? 'inherit' : 'ignore', stdout: 'inherit', stderr: 'inherit', ctl: o.tty !== undefined });
  const ctl = child.stdio[4] as NodeJS.WritableStream | null | undefined;
  ctl?.on('error', () => undefined);
  const off = o.tty?.onResize((rows, cols) => ctl?.write(`${rows} ${cols}\n`));
  // Signals to this process go to the command (the helper forwards them).
  const forward = (sig: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(child.pid, sig);
    } catch {
      // gone
    }
  };
  const sigs = (['SIGTERM', 'SIGINT', 'SIGHUP'] as NodeJS.Signals[]).map((s) => [s, () => forward(s)] as const);
  for (const [s, h] of sigs) process.on(s, h);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, sig) => {
      off?.();
      for (const [s, h] of sigs) process.off(s, h);
      resolve(shellStatus(code, sig));
    });
  });
}
