/**
 * `stratum rmi IMAGE…`: untag images. Their layers stay in the store as cache until
 * `stratum prune` finds nothing else using them (as `docker rmi` leaves build cache).
 */
import { EXIT, formatError, toUserError } from '../../engine/errors.js';
import { usageError } from '../usage.js';
import { openStore, parseCommand, withStoreErrors, type CommandIo } from './common.js';
import { requireImage } from './inspect.js';

export const RMI_USAGE = `Usage: stratum rmi IMAGE... [--cache-dir DIR]

Remove image tags from the store. Layers stay cached; \`stratum prune\` frees them.`;

export async function rmiCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, 'rmi', {});
  if (values.help) return void io.stdout.write(RMI_USAGE + '\n'), EXIT.ok;
  if (!positionals.length) throw usageError('rmi: expected at least one IMAGE', 'write stratum rmi NAME[:TAG]...');
  return withStoreErrors(async () => {
    const store = openStore(values['cache-dir'] as string | undefined);
    let code: number = EXIT.ok;
    for (const name of positionals) {
      try {
        const { image } = requireImage(undefined, name, store);
        store.removeImage(image.name);
        io.stdout.write(`Untagged: ${image.name}\n`);
      } catch (err) {
        // Like docker: report each image that is not there, untag the others, fail at the end.
        const e = toUserError(err);
        if (!e) throw err;
        io.stderr.write(formatError(e) + '\n');
        code = e.exitCode;
      }
    }
    return code;
  });
}
