/**
 * The floor of the one-file incremental scenario (issue 8: ≤ 1.5 × (`node -e 0` + the changed
 * steps' own commands run bare)). The last COPY of the generated Dockerfile is `COPY src/`, so
 * a change there re-runs one command, `sh tools/compile.sh`; bare means in a plain directory
 * that holds what the build's workspace holds at that step (src/, tools/, deps.txt and the
 * install step's node_modules/), with no engine around it. The install step runs once, when
 * the directory is staged, and is not timed.
 *
 * Engine-free: nothing here imports from engine/ or cache/.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { copyTree } from './tree.js';

/** The commands of the steps an incremental change re-runs, in order (bench/generate.ts). */
export const CHANGED_COMMANDS: readonly (readonly string[])[] = [['sh', 'tools/compile.sh']];

const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' };

/** Stage the bare directory at `dir` from a generated context (install step run once). */
export function stageBareWorkspace(context: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  copyTree(join(context, 'src'), join(dir, 'src'));
  copyTree(join(context, 'tools'), join(dir, 'tools'));
  copyFileSync(join(context, 'deps.txt'), join(dir, 'deps.txt'));
  const r = spawnSync('sh', ['tools/install.sh'], { cwd: dir, env: ENV, stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`bare install step in ${dir} exited with ${r.status ?? r.signal}`);
  return dir;
}

/** Wall time of the changed steps' commands run one after another in `dir` (ms). */
export async function timeChangedCommands(dir: string): Promise<number> {
  let ms = 0;
  for (const [cmd, ...args] of CHANGED_COMMANDS) {
    ms += await new Promise<number>((resolve, reject) => {
      const t0 = performance.now();
      const child = spawn(cmd!, args, { cwd: dir, env: ENV, stdio: 'ignore' });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`bare ${cmd} ${args.join(' ')} exited with ${code}`))));
    });
  }
  return ms;
}
