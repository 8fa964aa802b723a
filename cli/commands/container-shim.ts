/** `stratum __container-shim ID --cache-dir DIR` (internal): the detached supervisor of a
 *  `run -d` container. It outlives the CLI that started it and records the exit code. */
import { EXIT } from '../../engine/errors.js';
import type { CommandIo } from './common.js';
import { containerEnv } from './container-common.js';

export async function containerShimCommand(argv: string[], _io: CommandIo): Promise<number> {
  const id = argv[0]!;
  const cacheDir = argv[argv.indexOf('--cache-dir') + 1];
  process.chdir('/');
  const { store, caps } = await containerEnv(cacheDir);
  const { superviseContainer } = await import('../../engine/containers/supervise.js');
  try {
    await superviseContainer(store, caps, id);
  } catch {
    // Recorded in the container's state by superviseContainer.
    return EXIT.io;
  }
  return EXIT.ok;
}
