/**
 * `stratum start [-a] [-i] CONTAINER...` and `stratum restart [-t S] CONTAINER...`: run a
 * created or exited container again, as `docker start` does: the same writable layer, the
 * same volumes and config. Detached unless -a (then its output is streamed and its exit
 * code is ours; a -t container gets this terminal).
 */
import { EXIT, UserError } from '../../engine/errors.js';
import { withStoreErrors, type CommandIo } from './common.js';
import { containerEnv, mustFind, splitArgs } from './container-common.js';

export const START_USAGE = `Usage: stratum start [-a] [-i] CONTAINER...

Start stopped containers again, with their writable layer and volumes.
  -a, --attach        stream the output and exit with the container's code (one container)
  -i, --interactive   attach stdin too (a -t container: this terminal)`;

export const RESTART_USAGE = `Usage: stratum restart [-t SECONDS] CONTAINER...

Stop running containers (STOPSIGNAL, SIGKILL after -t seconds), then start them again, detached.`;

export async function startCommand(argv: string[], io: CommandIo, restart = false): Promise<number> {
  const command = restart ? 'restart' : 'start';
  const { values, flags, rest } = splitArgs(
    argv,
    { '--cache-dir': 'cacheDir', ...(restart ? { '-t': 'time', '--time': 'time' } : {}) },
    { '-h': 'help', '--help': 'help', ...(restart ? {} : { '-a': 'attach', '--attach': 'attach', '-i': 'interactive', '--interactive': 'interactive' }) },
    command,
  );
  if (flags.has('help')) return void io.stdout.write((restart ? RESTART_USAGE : START_USAGE) + '\n'), EXIT.ok;
  if (!rest.length) throw new UserError('USAGE', `${command}: expected CONTAINER...`, `run \`stratum ${command} --help\``, EXIT.usage);
  const time = values.time?.at(-1);
  if (time !== undefined && !/^\d+$/.test(time)) throw new UserError('USAGE', `restart: -t takes whole seconds (got "${time}")`, undefined, EXIT.usage);
  const attachIt = flags.has('attach');
  if (attachIt && rest.length > 1) throw new UserError('USAGE', 'start: -a attaches to one container only', undefined, EXIT.usage);
  return withStoreErrors(async () => {
    const { store, caps } = await containerEnv(values.cacheDir?.at(-1));
    const sup = await import('../../engine/containers/supervise.js');
    for (const ref of rest) {
      let rec = await mustFind(store, ref);
      if (restart && rec.state.status === 'running') rec = await sup.stopContainer(store, rec, time !== undefined ? Number(time) : rec.config.stopTimeoutS);
      if (rec.state.status === 'running') {
        // docker start on a running container does nothing
        io.stdout.write(ref + '\n');
        continue;
      }
      if (attachIt) {
        const { attach } = await import('./run.js');
        return attach(store, caps, rec, io, { tty: rec.config.tty === true, interactive: flags.has('interactive') });
      }
      const now = await sup.startDetached(store, rec);
      if (now.state.status === 'exited' && now.state.error) {
        throw new UserError('CONTAINER', `container ${rec.name} failed to start: ${now.state.error}`, `see \`stratum logs ${rec.name}\``, EXIT.stepFailed);
      }
      io.stdout.write(ref + '\n');
    }
    return EXIT.ok;
  });
}
