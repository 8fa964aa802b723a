/** `stratum __container-shim ID --cache-dir DIR` (internal): the detached supervisor of a
 *  `run -d` container. It outlives the CLI that started it and records the exit code. */
import { EXIT } from '../../engine/errors.js';
import type { CommandIo } from './common.js';
import { containerEnv } from './container-common.js';

export async function containerShimCommand(argv: string[], _io: CommandIo): Promise<number> {
  const id = argv[0]!;
  const cacheDir = argv[argv.indexOf('--cache-dir') + 1];
  process.chdir('/');
  const { openStore } = await import('./common.js');
  const { loadContainer, saveContainer } = await import('../../engine/containers/records.js');
  try {
    const { store, caps } = await containerEnv(cacheDir);
    const { superviseContainer } = await import('../../engine/containers/supervise.js');
    await superviseContainer(store, caps, id);
    return EXIT.ok;
  } catch (err) {
    // Nobody reads this process's stderr: the error goes into the record, for `run -d` to print.
    const store = openStore(cacheDir);
    const rec = loadContainer(store, id);
    if (rec && rec.state.status !== 'exited') {
      rec.state = { status: 'exited', exitCode: 125, finishedAt: new Date().toISOString(), error: err instanceof Error ? err.message : String(err) };
      saveContainer(store, rec);
    }
    return EXIT.io;
  }
}
