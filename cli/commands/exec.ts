/** `stratum exec [-i] [-t] [-e K=V] [-u USER[:GROUP]] [-w DIR] CONTAINER COMMAND [ARG...]`. */
import { EXIT, UserError } from '../../engine/errors.js';
import { withStoreErrors, type CommandIo } from './common.js';
import { containerEnv, mustFind, splitArgs } from './container-common.js';
import { openTerminal } from './container-tty.js';

export const EXEC_USAGE = `Usage: stratum exec [OPTIONS] CONTAINER COMMAND [ARG...]

Run a command in a running container: its namespaces, its root, its working directory and
environment.
  -e, --env NAME[=VALUE]   set an environment variable (repeatable)
  -u, --user USER[:GROUP]  user and group, names resolved in the container's /etc/passwd, /etc/group
  -w, --workdir DIR        working directory inside the container
  -i, --interactive        keep stdin open
  -t, --tty                a pty of the container's devpts, the command its session leader`;

export async function execCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, flags, rest } = splitArgs(
    argv,
    { '-e': 'env', '--env': 'env', '-u': 'user', '--user': 'user', '-w': 'workdir', '--workdir': 'workdir', '--cache-dir': 'cacheDir' },
    { '-h': 'help', '--help': 'help', '-i': 'interactive', '--interactive': 'interactive', '-t': 'tty', '--tty': 'tty' },
    'exec',
  );
  if (flags.has('help')) return void io.stdout.write(EXEC_USAGE + '\n'), EXIT.ok;
  const [ref, ...cmd] = rest;
  if (!ref || !cmd.length) throw new UserError('USAGE', 'exec: expected CONTAINER COMMAND', 'e.g. stratum exec web sh -c "ls /"', EXIT.usage);
  const workdir = values.workdir?.at(-1);
  if (workdir !== undefined && !workdir.startsWith('/')) throw new UserError('USAGE', `exec: -w "${workdir}" must be an absolute path`, 'e.g. -w /app', EXIT.usage);
  const tty = flags.has('tty');
  const interactive = flags.has('interactive');
  if (tty && interactive && !process.stdin.isTTY) throw new UserError('USAGE', 'exec: the input device is not a TTY', 'drop -t to pipe input (with -i), or run it from a terminal', EXIT.usage);
  return withStoreErrors(async () => {
    const { store, caps } = await containerEnv(values.cacheDir?.at(-1));
    const rec = await mustFind(store, ref);
    const { execInContainer, containerInitPid, readInContainer } = await import('../../engine/containers/exec.js');
    const pid = rec.state.status === 'running' ? containerInitPid(rec) : undefined;
    if (pid === undefined) throw new UserError('CONTAINER', `container ${rec.name} is not running`, `start it with \`stratum start ${rec.name}\`, or see \`stratum logs ${rec.name}\``, EXIT.usage);
    const env = [...(values.env ?? [])];
    let user: { uid: number; gid: number; groups: number[] } | undefined;
    const spec = values.user?.at(-1);
    if (spec !== undefined) {
      const { resolveUser } = await import('../../engine/user-resolve.js');
      const r = resolveUser(spec, readInContainer(pid));
      if (!r.ok) {
        const what = r.message.replace(/^USER /, '').replace("the image's", `container ${rec.name}'s`);
        throw new UserError('USAGE', `exec: -u ${what}`, `see \`stratum exec ${rec.name} cat /etc/passwd\`, or give a numeric uid`, EXIT.usage);
      }
      user = r.user ? { uid: r.user.uid, gid: r.user.gid, groups: r.user.groups } : { uid: 0, gid: 0, groups: [] };
      if (r.user && !env.some((kv) => kv.startsWith('HOME='))) env.unshift(`HOME=${r.user.home}`);
    }
    const term = tty ? openTerminal('exec', interactive) : undefined;
    try {
      return await execInContainer(caps, rec, pid, {
        argv: cmd,
        env,
        ...(user ? { user } : {}),
        ...(workdir !== undefined ? { workdir } : {}),
        ...(interactive ? { interactive } : {}),
        ...(term ? { tty: term } : {}),
      });
    } finally {
      term?.restore();
    }
  });
}
