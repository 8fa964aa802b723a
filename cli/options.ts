/**
 * Command-line options → typed options, with Docker's flag names. Parsing is node's own
 * util.parseArgs (no dependency, no start-up cost); this file only maps and validates.
 */
import { parseArgs } from 'node:util';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { flagHint } from './suggest.js';
import { join, resolve } from 'node:path';
import type { OutputSpec } from '../engine/build.js';
import { usageError } from './usage.js';
import { parsePlatform, type Platform } from '../engine/platform.js';

export type Progress = 'auto' | 'plain' | 'json' | 'tty';

export interface BuildCliOptions {
  context: string;
  dockerfile: string;
  tags: string[];
  target?: string;
  buildArgs: Record<string, string>;
  noCache: boolean;
  outputs: OutputSpec[];
  progress: Progress;
  cacheDir?: string;
  format?: 'json' | 'text';
  debounceMs?: number;
  /** `--executor` (else STRATUM_EXECUTOR): sandbox (default) or host. */
  executor?: 'sandbox' | 'host';
  /** `--jobs N`: stages run at once at most. */
  jobs?: number;
  /** `--env-pass NAME`: host variables a RUN may see. */
  envPass: string[];
  /** `--metadata-file FILE`: the build's result as JSON (build only). */
  metadataFile?: string;
  /** `--platform os/arch[/variant]`. */
  platform?: Platform;
  help: boolean;
}

const buildOptions = {
  file: { type: 'string', short: 'f' },
  tag: { type: 'string', short: 't', multiple: true },
  target: { type: 'string' },
  'build-arg': { type: 'string', multiple: true },
  'no-cache': { type: 'boolean' },
  output: { type: 'string', short: 'o', multiple: true },
  progress: { type: 'string' },
  'cache-dir': { type: 'string' },
  format: { type: 'string' },
  debounce: { type: 'string' },
  executor: { type: 'string' },
  jobs: { type: 'string', short: 'j' },
  'env-pass': { type: 'string', multiple: true },
  'metadata-file': { type: 'string' },
  platform: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * The build flags a command does not take (the rest of `buildOptions` it does): refused by
 * name, so that `stratum plan --debounce 5` says so instead of ignoring it.
 */
const NOT_FOR: Record<string, readonly (keyof typeof buildOptions)[]> = {
  build: ['debounce', 'format'],
  plan: ['debounce', 'metadata-file'],
  watch: ['format', 'metadata-file'],
};

/** The long flags `command` takes (help, completion and "did you mean"). */
export function buildFlags(command: string): string[] {
  const not = NOT_FOR[command] ?? [];
  return Object.keys(buildOptions).filter((k) => !(not as readonly string[]).includes(k));
}

export function parseBuildArgs(argv: string[], command: string): BuildCliOptions {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: buildOptions, allowPositionals: true, strict: true, tokens: true });
  } catch (err) {
    const message = (err as Error).message;
    throw usageError(`${command}: ${message.replace(/\. To specify a positional.*$/s, '')}`, flagHint(message, buildFlags(command)) ?? `run \`stratum ${command} --help\``);
  }
  for (const name of NOT_FOR[command] ?? []) {
    if (parsed.tokens.some((t) => t.kind === 'option' && t.name === name)) {
      throw usageError(`${command}: --${name} is not an option of \`stratum ${command}\``, `${WHERE[name] ?? 'see'} \`stratum ${command} --help\``);
    }
  }
  const v = parsed.values;
  if (parsed.positionals.length > 1) throw usageError(`${command}: expected one CONTEXT directory, got ${parsed.positionals.length}: ${parsed.positionals.join(' ')}`);
  const context = resolve(parsed.positionals[0] ?? '.');
  if (v.file === '-' && command === 'watch') throw usageError('watch: -f - (a Dockerfile on stdin) cannot be watched', 'pass the Dockerfile\'s path with -f');
  if (!v.help) {
    if (!existsSync(context)) throw usageError(`${command}: context directory ${context} does not exist`, 'pass the directory that holds your sources (and usually the Dockerfile)');
    if (!statSync(context).isDirectory()) throw usageError(`${command}: context ${context} is not a directory`, 'the context is a directory; pass the Dockerfile with -f');
  }
  const buildArgs: Record<string, string> = {};
  for (const kv of v['build-arg'] ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) {
      // Docker: `--build-arg NAME` takes the value from the environment.
      const fromEnv = process.env[kv];
      if (eq === 0 || fromEnv === undefined) throw usageError(`${command}: --build-arg "${kv}" needs a value`, 'write --build-arg NAME=VALUE (or export NAME and pass --build-arg NAME)');
      buildArgs[kv] = fromEnv;
    } else buildArgs[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const progress = (v.progress ?? 'auto') as Progress;
  if (!['auto', 'plain', 'json', 'tty'].includes(progress)) throw usageError(`${command}: --progress must be auto, plain, json or tty (got "${progress}")`);
  const format = v.format as 'json' | 'text' | undefined;
  if (format !== undefined && format !== 'json' && format !== 'text') throw usageError(`${command}: --format must be json or text`);
  let debounceMs: number | undefined;
  if (v.debounce !== undefined) {
    debounceMs = Number(v.debounce.replace(/ms$/, ''));
    if (!Number.isFinite(debounceMs) || debounceMs < 0) throw usageError(`${command}: --debounce takes milliseconds, e.g. --debounce 50`);
  }
  // STRATUM_EXECUTOR is read (and validated) by the engine's env module.
  const executor = v.executor;
  if (executor !== undefined && executor !== 'sandbox' && executor !== 'host') {
    throw usageError(`${command}: --executor must be sandbox or host (got "${executor}")`, 'sandbox (the default) runs every RUN isolated; host runs it on this machine, for machines without user namespaces');
  }
  let jobs: number | undefined;
  if (v.jobs !== undefined) {
    jobs = Number(v.jobs);
    if (!Number.isInteger(jobs) || jobs < 1) throw usageError(`${command}: --jobs takes a whole number of at least 1 (got "${v.jobs}")`);
  }
  for (const name of v['env-pass'] ?? []) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw usageError(`${command}: --env-pass takes a variable name (got "${name}")`, 'e.g. --env-pass NPM_TOKEN');
  }
  const platform = v.platform !== undefined ? parsePlatform(v.platform) : undefined;
  if (v.platform !== undefined && !platform) throw usageError(`${command}: --platform takes os/arch[/variant] (got "${v.platform}")`, 'e.g. --platform linux/amd64');
  return {
    context,
    ...(executor ? { executor } : {}),
    ...(jobs !== undefined ? { jobs } : {}),
    envPass: v['env-pass'] ?? [],
    ...(platform ? { platform } : {}),
    ...(v['metadata-file'] !== undefined ? { metadataFile: resolve(v['metadata-file']) } : {}),
    dockerfile: v.file === '-' && !v.help ? dockerfileFromStdin() : v.file !== undefined ? resolve(v.file) : join(context, 'Dockerfile'),
    tags: v.tag ?? [],
    ...(v.target !== undefined ? { target: v.target } : {}),
    buildArgs,
    noCache: v['no-cache'] ?? false,
    outputs: (v.output ?? []).map((o) => parseOutput(o, command)),
    progress,
    ...(v['cache-dir'] !== undefined ? { cacheDir: resolve(v['cache-dir']) } : {}),
    ...(format ? { format } : {}),
    ...(debounceMs !== undefined ? { debounceMs } : {}),
    help: v.help ?? false,
  };
}

/** Where a refused flag belongs. */
const WHERE: Record<string, string> = {
  debounce: '--debounce is for `stratum watch`; see',
  format: '--format json is for `stratum plan`; see',
  'metadata-file': '--metadata-file is for `stratum build`; see',
};

/**
 * `-f -`: the Dockerfile is read from stdin (as `docker build -f -`), into a file named
 * `Dockerfile` in a private temporary directory, removed when the process exits. Diagnostics
 * then name `<stdin>`'s copy; the context is still the directory argument.
 */
function dockerfileFromStdin(): string {
  let text: string;
  try {
    text = readFileSync(0, 'utf8');
  } catch (err) {
    throw usageError(`-f -: cannot read the Dockerfile from stdin: ${(err as Error).message}`, 'pipe it in: stratum build -f - . < Dockerfile');
  }
  const dir = mkdtempSync(join(tmpdir(), 'stratum-stdin-'));
  const file = join(dir, 'Dockerfile');
  writeFileSync(file, text);
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return file;
}

/**
 * `type=local,dest=DIR` or a bare `DIR` (Docker's shorthand for a local output);
 * `type=oci,dest=X[,tar=true|false]`: a tar file when dest ends in .tar or tar=true, else an
 * OCI layout directory; `type=docker,dest=X.tar`: a `docker load` archive (always a tar).
 */
export function parseOutput(spec: string, command: string): OutputSpec {
  if (!spec.includes('=')) return { type: 'local', dest: resolve(spec) };
  const kv: Record<string, string> = {};
  for (const part of spec.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw usageError(`${command}: bad --output "${spec}": "${part}" is not key=value`, 'write -o type=local,dest=DIR');
    kv[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  const type = kv.type ?? 'local';
  const hint = 'supported: -o type=local,dest=DIR, -o type=oci,dest=FILE.tar|DIR[,tar=false], -o type=docker,dest=FILE.tar';
  if (type !== 'local' && type !== 'oci' && type !== 'docker') throw usageError(`${command}: output type "${type}" is not supported`, hint);
  const unknown = Object.keys(kv).filter((k) => k !== 'type' && k !== 'dest' && k !== 'tar');
  if (type !== 'local' && unknown.length) throw usageError(`${command}: --output type=${type} does not take ${unknown.join(', ')}`, hint);
  if (!kv.dest) throw usageError(`${command}: --output type=${type} needs dest=${type === 'local' ? 'DIR' : 'PATH'}`, hint);
  if (type === 'local') return { type: 'local', dest: resolve(kv.dest) };
  if (kv.tar !== undefined && kv.tar !== 'true' && kv.tar !== 'false') throw usageError(`${command}: --output tar= takes true or false (got "${kv.tar}")`, hint);
  if (type === 'docker' && kv.tar === 'false') throw usageError(`${command}: type=docker writes a tar archive; tar=false is not supported`, 'for a directory, use -o type=oci,dest=DIR,tar=false');
  const tar = type === 'docker' || (kv.tar !== undefined ? kv.tar === 'true' : kv.dest.endsWith('.tar'));
  return { type, dest: resolve(kv.dest), tar };
}
