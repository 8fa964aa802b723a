/** `stratum exec [-e K=V] [-u UID[:GID]] CONTAINER COMMAND [ARG...]`: run in a running container. */
import { EXIT, UserError } from '../../engine/errors.js';
import { openStore, type CommandIo } from './common.js';
import { mustFind, splitArgs } from './container-common.js';

export const EXEC_USAGE = `Usage: stratum exec [-e NAME=VALUE] [-u UID[:GID]] CONTAINER COMMAND [ARG...]

Run a command in a running container: its namespaces, its root, its working directory and
environment. (-i/-t are not supported yet.)`;

export async function execCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, flags, rest } = splitArgs(argv, { '-e': 'env', '--env': 'env', '-u': 'user', '--user': 'user', '--cache-dir': 'cacheDir' }, { '-h': 'help', '--help': 'help', '-i': 'i', '-t': 't' }, 'exec');
  if (flags.has('help')) return void io.stdout.write(EXEC_USAGE + '\n'), EXIT.ok;
  const [ref, ...cmd] = rest;
  if (!ref || !cmd.length) throw new UserError('USAGE', 'exec: expected CONTAINER COMMAND', 'e.g. stratum exec web sh -c "ls /"', EXIT.usage);
  const store = openStore(values.cacheDir?.at(-1));
  const rec = await mustFind(store, ref);
  if (rec.state.status !== 'running') throw new UserError('CONTAINER', `container ${rec.name} is not running`, `start a new one with stratum run, or see \`stratum logs ${rec.name}\``, EXIT.usage);
  let user: { uid: number; gid: number } | undefined;
  const u = values.user?.at(-1);
  if (u !== undefined) {
    const m = /^(\d+)(?::(\d+))?$/.exec(u);
    if (!m) throw new UserError('USAGE', `exec: -u takes numeric UID[:GID] (got "${u}")`, undefined, EXIT.usage);
    user = { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
  }
  const { execInContainer } = await import('../../engine/containers/exec.js');
  return execInContainer(rec, { argv: cmd, env: values.env ?? [], ...(user ? { user } : {}) });
}
