/**
 * `stratum exec`: a command inside a running container, with nsenter(1) into the namespaces
 * of its PID 1 (user, mount, PID, IPC, UTS, and network for --network=none), its root and its
 * working directory; the environment is the container's plus `-e`.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { which } from '../sandbox/detect.js';
import type { ContainerRecord } from './records.js';

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

export interface ExecOptions {
  argv: string[];
  env: string[];
  user?: { uid: number; gid: number };
}

export function execInContainer(rec: ContainerRecord, o: ExecOptions): Promise<number> {
  const pid = containerInitPid(rec);
  if (pid === undefined) throw new Error(`container ${rec.name} has no running process`);
  const nsenter = which('nsenter');
  if (!nsenter) throw new Error('exec needs nsenter (util-linux), not found on PATH');
  const env: Record<string, string> = { ...rec.config.env };
  for (const kv of o.env) {
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
    else if (process.env[kv] !== undefined) env[kv] = process.env[kv]!;
  }
  const u = o.user ?? rec.config.user;
  const args = ['-t', String(pid), '-U', '-m', '-p', '-i', '-u', ...(rec.config.network === 'none' ? ['-n'] : []), '-r', '-w', ...(u ? ['-S', String(u.uid), '-G', String(u.gid)] : []), '--', ...o.argv];
  return new Promise((resolve, reject) => {
    const child = spawn(nsenter, args, { stdio: 'inherit', env });
    child.on('error', reject);
    child.on('close', (code, sig) => resolve(code ?? (sig === 'SIGKILL' ? 137 : 143)));
  });
}
