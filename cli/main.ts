#!/usr/bin/env node
/**
 * stratum's entry point: parse the command line into options or a usage error, run the
 * command, set the exit code. Heavy modules (the engine, Ink, chokidar) are imported only by
 * the command that needs them: start-up time is a feature.
 */
import { createRequire } from 'node:module';
import { EXIT, formatError, toUserError } from '../engine/errors.js';
import { USAGE, usageError } from './usage.js';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    io.stdout.write(USAGE + '\n');
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  if (command === '--version' || command === '-v') {
    io.stdout.write(`stratum ${(createRequire(import.meta.url)('../../package.json') as { version: string }).version}\n`);
    return EXIT.ok;
  }
  // Every environment input is checked before the command runs; build checks it in the
  // engine instead, so that its JSON progress still ends with a build-done event.
  if (command !== 'build') (await import('../engine/env.js')).stratumEnv();
  const { parseBuildArgs } = await import('./options.js');
  switch (command) {
    case 'build': {
      const opts = parseBuildArgs(rest, 'build');
      if (opts.help) return help(io.stdout, 'build');
      const { buildCommand } = await import('./commands/build.js');
      return buildCommand(opts, io);
    }
    case 'plan': {
      const opts = parseBuildArgs(rest, 'plan');
      if (opts.help) return help(io.stdout, 'plan');
      const { planCommand } = await import('./commands/plan.js');
      return planCommand(opts, io);
    }
    case 'watch': {
      const opts = parseBuildArgs(rest, 'watch');
      if (opts.help) return help(io.stdout, 'watch');
      const { watchCommand } = await import('./commands/watch.js');
      return watchCommand(opts, io);
    }
    case 'bench': {
      const { parseBenchArgs, benchCommand } = await import('./commands/bench.js');
      return benchCommand(parseBenchArgs(rest), io);
    }
    case 'images':
      return (await import('./commands/images.js')).imagesCommand(rest, io);
    case 'history':
      return (await import('./commands/history.js')).historyCommand(rest, io);
    case 'inspect':
      return (await import('./commands/inspect.js')).inspectCommand(rest, io);
    case 'rmi':
      return (await import('./commands/rmi.js')).rmiCommand(rest, io);
    case 'du':
      return (await import('./commands/du.js')).duCommand(rest, io);
    case 'prune':
      return (await import('./commands/prune.js')).pruneCommand(rest, io);
    case 'load':
      return (await import('./commands/load.js')).loadCommand(rest, io);
    case 'cache':
      return (await import('./commands/cache.js')).cacheCommand(rest, io);
    case 'run':
      return (await import('./commands/run.js')).runCommand(rest, io);
    case 'ps':
      return (await import('./commands/ps.js')).psCommand(rest, io);
    case 'logs':
      return (await import('./commands/logs.js')).logsCommand(rest, io);
    case 'exec':
      return (await import('./commands/exec.js')).execCommand(rest, io);
    case 'stop':
      return (await import('./commands/stop.js')).stopCommand(rest, io);
    case 'start':
      return (await import('./commands/start.js')).startCommand(rest, io);
    case 'restart':
      return (await import('./commands/start.js')).startCommand(rest, io, true);
    case 'rm':
      return (await import('./commands/rm.js')).rmCommand(rest, io);
    case 'diff':
      return (await import('./commands/diff.js')).diffCommand(rest, io);
    case 'commit':
      return (await import('./commands/commit.js')).commitCommand(rest, io);
    case 'volume':
      return (await import('./commands/volume.js')).volumeCommand(rest, io);
    case '__container-shim':
      return (await import('./commands/container-shim.js')).containerShimCommand(rest, io);
    case 'pull':
      return (await import('./commands/registry.js')).pullCommand(rest, io);
    case 'push':
      return (await import('./commands/registry.js')).pushCommand(rest, io);
    case 'login':
      return (await import('./commands/registry.js')).loginCommand(rest, io);
    case 'completion':
      return (await import('./commands/completion.js')).completionCommand(rest, io);
    default:
      throw usageError(`unknown command "${command}"`, (await import('./suggest.js')).commandHint(command));
  }
}

async function help(out: NodeJS.WriteStream, command: string): Promise<number> {
  out.write((await import('./help.js')).COMMAND_HELP[command] + '\n');
  return EXIT.ok;
}

// A reader that stops early (`stratum images | head -1`) closes the pipe: stop quietly, as
// git and docker do, with the status of a process killed by SIGPIPE (128 + 13).
const EPIPE_EXIT = 141;
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EPIPE_EXIT);
    throw err;
  });
}

// Node exits when nothing is left to run, even with the command's promise unsettled (a stream
// that waits on a lock nobody holds): that must not look like success.
let settled = false;
process.once('exit', () => {
  // process.exit(n) (a closed pipe, a signal) sets the code first: not this case.
  if (settled || process.exitCode !== undefined) return;
  process.stderr.write('stratum: internal error (this is a bug; please report it): the command stopped before it finished, with nothing left to wait for\n');
  process.exitCode = EXIT.io;
});

main(process.argv.slice(2)).finally(() => (settled = true)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (isEpipe(err)) process.exit(EPIPE_EXIT);
    const user = toUserError(err);
    if (user) {
      process.stderr.write(formatError(user) + '\n');
      process.exitCode = user.exitCode;
      return;
    }
    // A bug: say so plainly, with the stack, and exit 3 (never a silent hang).
    process.stderr.write(`stratum: internal error (this is a bug; please report it):\n${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = EXIT.io;
  },
);

function isEpipe(err: unknown): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === 'EPIPE';
}
