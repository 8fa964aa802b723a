/**
 * `stratum run [OPTIONS] IMAGE [COMMAND [ARG...]]`: create a container from an image and start
 * it, in the foreground (its output streamed, its exit code ours) or detached (`-d`).
 */
import { EXIT, UserError } from '../../engine/errors.js';
import type { CommandIo } from './common.js';
import { withStoreErrors } from './common.js';
import { containerEnv, splitArgs } from './container-common.js';

export const RUN_USAGE = `Usage: stratum run [OPTIONS] IMAGE [COMMAND [ARG...]]

Run a command (by default the image's ENTRYPOINT and CMD) in a new container: the image's
layers as a read-only overlay with a writable layer of its own, in the same rootless sandbox
as RUN.
      --name NAME          name the container (default: a random name)
  -d, --detach             run in the background; output goes to \`stratum logs\`
      --rm                 remove the container (and its anonymous volumes) when it exits
  -e, --env NAME[=VALUE]   set an environment variable (repeatable)
      --env-file FILE      read NAME=VALUE lines (repeatable)
  -w, --workdir DIR        working directory inside the container
  -u, --user USER[:GROUP]  user (name or id, resolved in the image's /etc/passwd)
      --entrypoint CMD     override the image's ENTRYPOINT (resets CMD)
  -v, --volume SPEC        NAME:/path[:ro] named volume, ./dir:/path[:ro] or /dir:/path[:ro] bind mount,
                           /path anonymous volume (repeatable)
      --tmpfs /path[:size=64m]   a tmpfs mount (repeatable)
  -p, --publish HOST:CTR   recorded only: the container shares the host's network, so it listens
                           on the host directly (refused with --network=none)
      --network host|none  host (default) or none (a loopback of its own)
      --stop-timeout S     seconds between the stop signal and SIGKILL (default 10)
  -i, -t                   not supported (no pty yet): run without them`;

const VALUED = { '--name': 'name', '-e': 'env', '--env': 'env', '--env-file': 'envFile', '-w': 'workdir', '--workdir': 'workdir', '-u': 'user', '--user': 'user', '--entrypoint': 'entrypoint', '-v': 'volume', '--volume': 'volume', '--tmpfs': 'tmpfs', '-p': 'publish', '--publish': 'publish', '--network': 'network', '--net': 'network', '--cache-dir': 'cacheDir', '--stop-timeout': 'stopTimeout' };
const BOOLS = { '-d': 'detach', '--detach': 'detach', '--rm': 'rm', '-i': 'interactive', '--interactive': 'interactive', '-t': 'tty', '--tty': 'tty', '-h': 'help', '--help': 'help' };

export async function runCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, flags, rest } = splitArgs(argv, VALUED, BOOLS, 'run');
  if (flags.has('help')) return void io.stdout.write(RUN_USAGE + '\n'), EXIT.ok;
  if (flags.has('interactive') || flags.has('tty')) {
    throw new UserError('USAGE', 'run: -i/-t (an interactive terminal) is not supported yet', 'run without -it; for a shell in a running container, `stratum exec NAME sh -c ...`', EXIT.usage);
  }
  const [image, ...cmd] = rest;
  if (!image) throw new UserError('USAGE', 'run: expected an IMAGE', 'write stratum run [OPTIONS] IMAGE [COMMAND...]', EXIT.usage);
  const network = values.network?.at(-1) ?? 'host';
  if (network !== 'host' && network !== 'none') throw new UserError('USAGE', `run: --network must be host or none (got "${network}")`, undefined, EXIT.usage);
  const one = (k: string) => values[k]?.at(-1);
  const stopTimeout = one('stopTimeout');
  if (stopTimeout !== undefined && !/^\d+$/.test(stopTimeout)) throw new UserError('USAGE', `run: --stop-timeout takes whole seconds (got "${stopTimeout}")`, undefined, EXIT.usage);
  return withStoreErrors(async () => {
    const { store, caps } = await containerEnv(one('cacheDir'));
    const { createContainer } = await import('../../engine/containers/create.js');
    const { saveContainer } = await import('../../engine/containers/records.js');
    const sup = await import('../../engine/containers/supervise.js');
    const name = one('name');
    const entrypoint = one('entrypoint');
    const user = one('user');
    const workdir = one('workdir');
    const rec = createContainer(
      store,
      {
        image,
        cmd,
        env: values.env ?? [],
        envFiles: values.envFile ?? [],
        volumes: values.volume ?? [],
        tmpfs: values.tmpfs ?? [],
        ports: values.publish ?? [],
        network,
        autoRemove: flags.has('rm'),
        ...(name !== undefined ? { name } : {}),
        ...(entrypoint !== undefined ? { entrypoint } : {}),
        ...(user !== undefined ? { user } : {}),
        ...(workdir !== undefined ? { workdir } : {}),
        ...(stopTimeout !== undefined ? { stopTimeoutS: Number(stopTimeout) } : {}),
      },
      process.cwd(),
    );
    saveContainer(store, rec);
    if (flags.has('detach')) {
      const now = await sup.startDetached(store, rec);
      if (now.state.status === 'exited' && now.state.error) {
        throw new UserError('CONTAINER', `container ${rec.name} failed to start: ${now.state.error}`, `see \`stratum logs ${rec.name}\``, EXIT.stepFailed);
      }
      io.stdout.write(rec.id + '\n');
      return EXIT.ok;
    }
    try {
      return await sup.superviseContainer(store, caps, rec.id, { stdout: io.stdout, stderr: io.stderr });
    } catch (err) {
      throw new UserError('CONTAINER', `container ${rec.name} failed to start: ${err instanceof Error ? err.message : String(err)}`, undefined, EXIT.io);
    }
  });
}
