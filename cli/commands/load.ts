/**
 * `stratum load X.tar|DIR [-t NAME]`: import images from an OCI layout (directory or tar)
 * or a docker-archive into the store, verifying every digest; hostile archives are refused
 * (engine/oci/import.ts).
 */
import { resolve } from 'node:path';
import { EXIT } from '../../engine/errors.js';
import { usageError } from '../usage.js';
import { openStore, parseCommand, withStoreErrors, type CommandIo } from './common.js';

export const LOAD_USAGE = `Usage: stratum load ARCHIVE|DIR [-t NAME[:TAG]] [--cache-dir DIR]

Import images from an OCI layout (a directory or .tar) or a docker-archive (docker save).
  -t, --tag NAME[:TAG]   the name to store the image under (default: the name the archive carries)`;

export async function loadCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, 'load', { tag: { type: 'string', short: 't' } });
  if (values.help) return void io.stdout.write(LOAD_USAGE + '\n'), EXIT.ok;
  if (positionals.length !== 1) throw usageError(`load: expected one ARCHIVE or DIR, got ${positionals.length}`, 'write stratum load image.tar [-t NAME:TAG]');
  return withStoreErrors(async () => {
    const store = openStore(values['cache-dir'] as string | undefined);
    const { loadArchive } = await import('../../engine/oci/import.js');
    const tag = values.tag as string | undefined;
    const images = await loadArchive(store, resolve(positionals[0]!), tag !== undefined ? { name: tag } : {});
    for (const img of images) io.stdout.write(`Loaded image: ${img.name}\n`);
    return EXIT.ok;
  });
}
