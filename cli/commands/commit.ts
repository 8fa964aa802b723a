/** `stratum commit [-m MSG] CONTAINER IMAGE[:TAG]`: the writable layer becomes a layer of a new image. */
import { EXIT } from '../../engine/errors.js';
import { usageError } from '../usage.js';
import { parseCommand, shortId, withStoreErrors, type CommandIo } from './common.js';
import { containerEnv, mustFind } from './container-common.js';

export const COMMIT_USAGE = `Usage: stratum commit [-m MESSAGE] CONTAINER IMAGE[:TAG]

Store the container's changes as one more layer on its image, tagged IMAGE[:TAG].`;

export async function commitCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, 'commit', { message: { type: 'string', short: 'm' } });
  if (values.help) return void io.stdout.write(COMMIT_USAGE + '\n'), EXIT.ok;
  if (positionals.length !== 2) throw usageError('commit: expected CONTAINER IMAGE[:TAG]', 'e.g. stratum commit web web:patched');
  return withStoreErrors(async () => {
    const { store, caps } = await containerEnv(values['cache-dir'] as string | undefined);
    const rec = await mustFind(store, positionals[0]!);
    const { commitContainer } = await import('../../engine/containers/changes.js');
    const img = await commitContainer(store, caps, rec, positionals[1]!, values.message as string | undefined);
    io.stdout.write(`${img.name} ${shortId(img.chain.replace(/^sha256:/, ''))}\n`);
    return EXIT.ok;
  });
}
