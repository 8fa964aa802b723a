/**
 * `stratum run [OPTIONS] IMAGE [COMMAND [ARG...]]`: create a container from an image and start
 * it, in the foreground (its output streamed, its exit code ours) or detached (`-d`).
 */
import { EXIT, UserError } from '../../engine/errors.js';
import type { CommandIo } from './common.js';
import { withStoreErrors } from './common.js';
import { containerEnv, splitArgs } from './container-common.js';
import { openTerminal } from './container-tty.js';
import type { LocalStore } from '../../cache/store-types.js';
import type { SandboxCaps } from '../../engine/sandbox/detect.js';
import type { ContainerRecord } from '../../engine/containers/records.js';

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
  -i, --interactive        keep stdin open: the container reads this terminal or pipe
  -t, --tty                a pty of the container's own, its command the session leader on it
                           (job control, \`tty\`, \`stty size\`; the window size follows yours)
      --restart POLICY     no (default), on-failure[:MAX-RETRIES], always, unless-stopped`;

const VALUED = { '--name': 'name', '-e': 'env', '--env': 'env', '--env-file': 'envFile', '-w': 'workdir', '--workdir': 'workdir', '-u': 'user', '--user': 'user', '--entrypoint': 'entrypoint', '-v': 'volume', '--volume': 'volume', '--tmpfs': 'tmpfs', '-p': 'publish', '--publish': 'publish', '--network': 'network', '--net': 'network', '--cache-dir': 'cacheDir', '--stop-timeout': 'stopTimeout', '--restart': 'restart' };
const BOOLS = { '-d': 'detach', '--detach': 'detach', '--rm': 'rm', '-i': 'interactive', '--interactive': 'interactive', '-t': 'tty', '--tty': 'tty', '-h': 'help', '--help': 'help' };

export async function runCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, flags, rest } = splitArgs(argv, VALUED, BOOLS, 'run');
  if (flags.has('help')) return void io.stdout.write(RUN_USAGE + '\n'), EXIT.ok;
  const [image, ...cmd] = rest;
  if (!image) throw new UserError('USAGE', 'run: expected an IMAGE', 'write stratum run [OPTIONS] IMAGE [COMMAND...]', EXIT.usage);
  const network = values.network?.at(-1) ?? 'host';
  if (network !== 'host' && network !== 'none') throw new UserError('USAGE', `run: --network must be host or none (got "${network}")`, undefined, EXIT.usage);
  const one = (k: string) => values[k]?.at(-1);
  const stopTimeout = one('stopTimeout');
  if (stopTimeout !== undefined && !/^\d+$/.test(stopTimeout)) throw new UserError('USAGE', `run: --stop-timeout takes whole seconds (got "${stopTimeout}")`, undefined, EXIT.usage);
  const detach = flags.has('detach');
  const tty = flags.has('tty');
  const interactive = flags.has('interactive') && !detach;
  const restartText = one('restart');
  if (restartText !== undefined && restartText !== 'no' && flags.has('rm')) throw new UserError('USAGE', 'run: conflicting options: --restart and --rm', 'a container removed when it exits cannot be restarted: drop one', EXIT.usage);
  if (tty && interactive && !process.stdin.isTTY) throw new UserError('USAGE', 'run: the input device is not a TTY', 'drop -t to pipe input (with -i), or run it from a terminal', EXIT.usage);
  return withStoreErrors(async () => {
    const { store, caps } = await containerEnv(one('cacheDir'));
    const { createContainer, parseRestart } = await import('../../engine/containers/create.js');
    const { claimContainer } = await import('../../engine/containers/records.js');
    const restart = restartText !== undefined ? parseRestart(restartText) : undefined;
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
        ...(tty ? { tty } : {}),
        ...(flags.has('interactive') ? { interactive: true } : {}),
        ...(restart ? { restart } : {}),
        ...(name !== undefined ? { name } : {}),
        ...(entrypoint !== undefined ? { entrypoint } : {}),
        ...(user !== undefined ? { user } : {}),
        ...(workdir !== undefined ? { workdir } : {}),
        ...(stopTimeout !== undefined ? { stopTimeoutS: Number(stopTimeout) } : {}),
      },
      process.cwd(),
    );
    claimContainer(store, rec, name !== undefined);
    if (detach) {
      const now = await sup.startDetached(store, rec);
      if (now.state.status === 'exited' && now.state.error) {
        throw new UserError('CONTAINER', `container ${rec.name} failed to start: ${now.state.error}`, `see \`stratum logs ${rec.name}\``, EXIT.stepFailed);
      }
      io.stdout.write(rec.id + '\n');
      return EXIT.ok;
    }
    return attach(store, caps, rec, io, { tty, interactive });
  });
}

/** Supervise `rec` in the foreground: its output streamed (and logged), its exit code ours;
 *  with a tty, the user's terminal in raw mode meanwhile. */
export async function attach(store: LocalStore, caps: SandboxCaps, rec: ContainerRecord, io: CommandIo, o: { tty: boolean; interactive: boolean }): Promise<number> {
  const sup = await import('../../engine/containers/supervise.js');
  const term = o.tty ? openTerminal('run', o.interactive) : undefined;
  try {
    return await sup.superviseContainer(store, caps, rec.id, { stdout: io.stdout, stderr: io.stderr, ...(o.interactive ? { stdin: 'inherit' as const } : {}), ...(term ? { terminal: term } : {}) });
  } catch (err) {
    throw new UserError('CONTAINER', `container ${rec.name} failed to start: ${err instanceof Error ? err.message : String(err)}`, undefined, EXIT.io);
  } finally {
    term?.restore();
  }
}
