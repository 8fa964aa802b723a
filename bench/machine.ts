/** A one-line description of the machine a benchmark ran on, and the file system of a path. */
import { readFileSync, realpathSync } from 'node:fs';
import { cpus, loadavg, release, totalmem, type } from 'node:os';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  /** 1-minute load average when the run started: other work on the machine skews timings. */
  load: number;
}

export function describeMachine(): Machine {
  const c = cpus();
  return {
    cpu: (c[0]?.model ?? 'unknown CPU').replace(/\s+/g, ' ').trim(),
    cores: c.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${type()} ${release()}`,
    node: process.version,
    load: Math.round(loadavg()[0]! * 100) / 100,
  };
}

/** File system type of the mount holding `path` (`tmpfs`, `ext4`, …), from /proc/mounts. */
export function fsTypeOf(path: string): string {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    real = path;
  }
  let best = { mount: '', type: 'unknown' };
  try {
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [, mount, fstype] = line.split(' ');
      if (!mount || !fstype) continue;
      const m = mount.replace(/\\040/g, ' ');
      if ((real === m || real.startsWith(m.endsWith('/') ? m : m + '/')) && m.length > best.mount.length) best = { mount: m, type: fstype };
    }
  } catch {
    // not Linux
  }
  return best.type;
}

/** The 1-minute load average now. */
export function loadNow(): number {
  return Math.round(loadavg()[0]! * 100) / 100;
}
