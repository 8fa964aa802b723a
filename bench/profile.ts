/**
 * Summaries of V8 CPU profiles (`node --cpu-prof`): where a missed target's time goes, by
 * function, as self time and as inclusive time (a function's own time plus its callees').
 * Engine-free.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileLine {
  fn: string;
  ms: number;
  percent: number;
}

export interface ProfileSummary {
  totalMs: number;
  self: ProfileLine[];
  inclusive: ProfileLine[];
}

/** `name file:line`, paths shortened to what follows dist/ or node_modules/. */
function label(n: ProfileNode): string {
  const url = n.callFrame.url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^file:\/\//, '');
  return `${n.callFrame.functionName || '(anonymous)'}${url ? ` ${url}:${n.callFrame.lineNumber + 1}` : ''}`;
}

export function summarizeProfile(path: string, top = 15, keep: (fn: string) => boolean = () => true): ProfileSummary {
  const prof = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const time = new Map<number, number>();
  for (let i = 0; i < prof.samples.length; i++) time.set(prof.samples[i]!, (time.get(prof.samples[i]!) ?? 0) + (prof.timeDeltas[i] ?? 0));
  let total = 0;
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  for (const [id, us] of time) {
    const frame = byId.get(id)!.callFrame;
    // Waiting (e.g. for a RUN) is not CPU time; `dispatch` without a script is the in-process
    // profiler's own message handling (node:inspector), not the code profiled.
    if (frame.functionName === '(idle)' || (frame.functionName === 'dispatch' && frame.url === '')) continue;
    total += us;
    const l = label(byId.get(id)!);
    self.set(l, (self.get(l) ?? 0) + us);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const name = label(byId.get(cur)!);
      if (seen.has(name)) continue;
      seen.add(name);
      incl.set(name, (incl.get(name) ?? 0) + us);
    }
  }
  const lines = (m: Map<string, number>) =>
    [...m]
      .filter(([fn]) => keep(fn))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([fn, us]) => ({ fn, ms: us / 1000, percent: (100 * us) / total }));
  return { totalMs: total / 1000, self: lines(self), inclusive: lines(incl) };
}

/** CPU-profile `fn` in this process (node:inspector), written to `path` as a .cpuprofile. */
export async function profileInProcess(path: string, fn: () => unknown): Promise<void> {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
    await fn();
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(path, JSON.stringify(profile));
  } finally {
    session.disconnect();
  }
}

/** The one .cpuprofile a `--cpu-prof-dir` holds after one process. */
export function onlyProfile(dir: string): string | undefined {
  const f = readdirSync(dir).filter((n) => n.endsWith('.cpuprofile'));
  return f.length ? join(dir, f[0]!) : undefined;
}
