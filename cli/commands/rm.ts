/** `stratum rm [-f] [-v] CONTAINER...`: remove containers (named volumes stay). */
import { EXIT, UserError } from '../../engine/errors.js';
import { usageError } from '../usage.js';
import { parseCommand, withStoreErrors, type CommandIo } from './common.js';
import { containerEnv, mustFind } from './container-common.js';

export const RM_USAGE = `Usage: stratum rm [-f] [-v] CONTAINER...

Remove stopped containers and their writable layers.
  -f, --force     stop a running container first (SIGKILL)
  -v, --volumes   also remove its anonymous volumes (named volumes always stay)`;

export async function rmCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, 'rm', { force: { type: 'boolean', short: 'f' }, volumes: { type: 'boolean', short: 'v' } });
  if (values.help) return void io.stdout.write(RM_USAGE + '\n'), EXIT.ok;
  if (!positionals.length) throw usageError('rm: expected CONTAINER...');
  return withStoreErrors(async () => {
    const { store, caps } = await containerEnv(values['cache-dir'] as string | undefined);
    const { removeContainer, stopContainer } = await import('../../engine/containers/supervise.js');
    for (const ref of positionals) {
      let rec = await mustFind(store, ref);
      if (rec.state.status === 'running') {
        if (!values.force) throw new UserError('CONTAINER', `container ${rec.name} is running`, `stop it first (stratum stop ${rec.name}) or use rm -f`, EXIT.usage);
        rec = await stopContainer(store, rec, 0);
      }
      await removeContainer(store, caps, rec, { volumes: values.volumes === true });
      io.stdout.write(ref + '\n');
    }
    return EXIT.ok;
  });
}
