/** `stratum stop [-t SECONDS] CONTAINER...`: the stop signal, then SIGKILL after the grace. */
import { EXIT } from '../../engine/errors.js';
import { usageError } from '../usage.js';
import { openStore, parseCommand, type CommandIo } from './common.js';
import { mustFind } from './container-common.js';

export const STOP_USAGE = `Usage: stratum stop [-t SECONDS] CONTAINER...

Stop running containers: STOPSIGNAL (default SIGTERM), then SIGKILL after -t seconds (default: the container's --stop-timeout, 10).`;

export async function stopCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, 'stop', { time: { type: 'string', short: 't' } });
  if (values.help) return void io.stdout.write(STOP_USAGE + '\n'), EXIT.ok;
  if (!positionals.length) throw usageError('stop: expected CONTAINER...');
  if (values.time !== undefined && !/^\d+$/.test(values.time as string)) throw usageError(`stop: -t takes whole seconds (got "${values.time}")`);
  const store = openStore(values['cache-dir'] as string | undefined);
  const { stopContainer } = await import('../../engine/containers/supervise.js');
  for (const ref of positionals) {
    const rec = await mustFind(store, ref);
    await stopContainer(store, rec, values.time !== undefined ? Number(values.time) : rec.config.stopTimeoutS);
    io.stdout.write(ref + '\n');
  }
  return EXIT.ok;
}
