/** `stratum diff CONTAINER`: the writable layer, as `docker diff` prints it (A added, C changed, D deleted). */
import { EXIT } from '../../engine/errors.js';
import { usageError } from '../usage.js';
import { parseCommand, withStoreErrors, type CommandIo } from './common.js';
import { containerEnv, mustFind } from './container-common.js';

export const DIFF_USAGE = `Usage: stratum diff CONTAINER

List what the container changed: A (added), C (changed), D (deleted), one path a line.`;

export async function diffCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, 'diff', {});
  if (values.help) return void io.stdout.write(DIFF_USAGE + '\n'), EXIT.ok;
  if (positionals.length !== 1) throw usageError('diff: expected one CONTAINER');
  return withStoreErrors(async () => {
    const { store, caps } = await containerEnv(values['cache-dir'] as string | undefined);
    const rec = await mustFind(store, positionals[0]!);
    const { containerDiff } = await import('../../engine/containers/changes.js');
    for (const c of await containerDiff(store, caps, rec)) io.stdout.write(`${c.kind} ${c.path}\n`);
    return EXIT.ok;
  });
}
