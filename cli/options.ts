/**
 * Command-line options → typed options, with Docker's flag names. Parsing is node's own
 * util.parseArgs (no dependency, no start-up cost); this file only maps and validates.
 */
import { parseArgs } from 'node:util';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { flagHint } from './suggest.js';
import { join, resolve } from 'node:path';
import type { CacheSpec, OutputSpec } from '../engine/build.js';
import { usageError } from './usage.js';
import { parsePlatform, type Platform } from '../engine/platform.js';
import type { SecretSource } from '../engine/run-mounts.js';

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
  /** `--secret id=ID,src=FILE|env=VAR`. */
  secrets: Record<string, SecretSource>;
  /** `--ssh default|ID[=SOCKET]`: agent sockets a RUN --mount=type=ssh may use, by id. */
  ssh: Record<string, string>;
  /** `--env-pass NAME`: host variables a RUN may see. */
  envPass: string[];
  /** `--metadata-file FILE`: the build's result as JSON (build only). */
  metadataFile?: string;
  /** `--platform os/arch[/variant]`. */
  platform?: Platform;
  /** `--pull`: ask the registry for every registry base even when the store has it. */
  pull: boolean;
  /** `--insecure-registry HOST` (repeatable): plain http:// for these registries. */
  insecureRegistries: string[];
  /** `--push` (every -t) and `-o type=registry,name=REF`: references to push the image to. */
  push: string[];
  /** `--cache-to` / `--cache-from` (repeatable). */
  cacheTo: CacheSpec[];
  cacheFrom: CacheSpec[];
  help: boolean;
  /** `watch --run`: a container from the built image, restarted on every new image. */
  run?: { name?: string; publish: string[]; volumes: string[]; env: string[]; network: 'host' | 'none' };
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
  secret: { type: 'string', multiple: true },
  ssh: { type: 'string', multiple: true },
  'metadata-file': { type: 'string' },
  platform: { type: 'string' },
  pull: { type: 'boolean' },
  'insecure-registry': { type: 'string', multiple: true },
  push: { type: 'boolean' },
  'cache-to': { type: 'string', multiple: true },
  'cache-from': { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
  // watch --run (docker run's names)
  run: { type: 'boolean' },
  publish: { type: 'string', short: 'p', multiple: true },
  volume: { type: 'string', short: 'v', multiple: true },
  env: { type: 'string', short: 'e', multiple: true },
  name: { type: 'string' },
  network: { type: 'string' },
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
  const runFlags = (['publish', 'volume', 'env', 'name', 'network'] as const).filter((k) => v[k] !== undefined);
  if ((v.run || runFlags.length) && command !== 'watch') throw usageError(`${command}: --run${runFlags.length ? `, --${runFlags.join(', --')}` : ''} belong to \`stratum watch --run\``, 'to run a built image once: stratum run IMAGE');
  if (runFlags.length && !v.run) throw usageError(`${command}: --${runFlags.join(', --')} need --run`, 'e.g. stratum watch --run -p 8080:8080 .');
  if (v.network !== undefined && v.network !== 'host' && v.network !== 'none') throw usageError(`${command}: --network must be host or none (got "${v.network}")`);
  const platform = v.platform !== undefined ? parsePlatform(v.platform) : undefined;
  if (v.platform !== undefined && !platform) throw usageError(`${command}: --platform takes os/arch[/variant] (got "${v.platform}")`, 'e.g. --platform linux/amd64');
  const outputs: OutputSpec[] = [];
  const push: string[] = v.push ? [...(v.tag ?? [])] : [];
  if (v.push && !push.length) throw usageError(`${command}: --push needs a name to push to`, 'add -t REGISTRY/REPO:TAG, e.g. -t localhost:5000/app:1');
  for (const o of v.output ?? []) {
    const out = parseOutput(o, command);
    if (out.type === 'registry') push.push(out.name);
    else outputs.push(out);
  }
  return {
    context,
    pull: v.pull ?? false,
    insecureRegistries: v['insecure-registry'] ?? [],
    push,
    cacheTo: (v['cache-to'] ?? []).map((c) => parseCacheSpec(c, command, '--cache-to')),
    cacheFrom: (v['cache-from'] ?? []).map((c) => parseCacheSpec(c, command, '--cache-from')),
    ...(executor ? { executor } : {}),
    ...(jobs !== undefined ? { jobs } : {}),
    envPass: v['env-pass'] ?? [],
    secrets: parseSecrets(v.secret ?? [], command),
    ssh: parseSsh(v.ssh ?? [], command),
    ...(platform ? { platform } : {}),
    ...(v['metadata-file'] !== undefined ? { metadataFile: resolve(v['metadata-file']) } : {}),
    dockerfile: v.file === '-' && !v.help ? dockerfileFromStdin() : v.file !== undefined ? resolve(v.file) : join(context, 'Dockerfile'),
    tags: v.tag ?? [],
    ...(v.target !== undefined ? { target: v.target } : {}),
    buildArgs,
    noCache: v['no-cache'] ?? false,
    outputs,
    progress,
    ...(v['cache-dir'] !== undefined ? { cacheDir: resolve(v['cache-dir']) } : {}),
    ...(format ? { format } : {}),
    ...(debounceMs !== undefined ? { debounceMs } : {}),
    help: v.help ?? false,
    ...(v.run
      ? { run: { publish: v.publish ?? [], volumes: v.volume ?? [], env: v.env ?? [], network: (v.network ?? 'host') as 'host' | 'none', ...(v.name !== undefined ? { name: v.name } : {}) } }
      : {}),
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
export function parseOutput(spec: string, command: string): OutputSpec | { type: 'registry'; name: string } {
  if (!spec.includes('=')) return { type: 'local', dest: resolve(spec) };
  const kv = keyValues(spec, command, '--output', 'write -o type=local,dest=DIR');
  const type = kv.type ?? 'local';
  const hint = 'supported: -o type=local,dest=DIR, -o type=oci,dest=FILE.tar|DIR[,tar=false], -o type=docker,dest=FILE.tar, -o type=registry,name=REF';
  if (type === 'registry') {
    const unknownKeys = Object.keys(kv).filter((k) => k !== 'type' && k !== 'name' && k !== 'push');
    if (unknownKeys.length) throw usageError(`${command}: --output type=registry does not take ${unknownKeys.join(', ')}`, hint);
    if (!kv.name) throw usageError(`${command}: --output type=registry needs name=REGISTRY/REPO:TAG`, hint);
    return { type: 'registry', name: kv.name };
  }
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

/** `--secret id=ID[,src=FILE|,env=VAR]`, as Docker: with neither, the variable ID if set, else
 *  a file ID. */
export function parseSecrets(specs: readonly string[], command: string): Record<string, SecretSource> {
  const out: Record<string, SecretSource> = {};
  const hint = 'write --secret id=NAME,src=FILE or --secret id=NAME,env=VAR';
  for (const spec of specs) {
    const kv: Record<string, string> = {};
    for (const part of spec.split(',')) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw usageError(`${command}: bad --secret "${spec}": "${part}" is not key=value`, hint);
      kv[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
    }
    const unknown = Object.keys(kv).filter((k) => !['id', 'src', 'source', 'env', 'type'].includes(k));
    if (unknown.length || !kv.id) throw usageError(`${command}: bad --secret "${spec}"${unknown.length ? `: unknown ${unknown.join(', ')}` : ': id= is missing'}`, hint);
    const src = kv.src ?? kv.source;
    if (src !== undefined && kv.env !== undefined) throw usageError(`${command}: --secret "${spec}" gives both src= and env=`, hint);
    if (src !== undefined) out[kv.id] = { src: resolve(src) };
    else if (kv.env !== undefined) out[kv.id] = { env: kv.env };
    else out[kv.id] = process.env[kv.id] !== undefined ? { env: kv.id } : { src: resolve(kv.id) };
  }
  return out;
}

/**
 * `--ssh ID[=SOCKET]`, as Docker's: `default` alone is the agent of $SSH_AUTH_SOCK. Only
 * agent sockets are forwarded; a key file is refused (add it to an agent with ssh-add).
 */
export function parseSsh(specs: readonly string[], command: string): Record<string, string> {
  const out: Record<string, string> = {};
  const hint = 'write --ssh default (the agent of $SSH_AUTH_SOCK) or --ssh ID=/path/to/agent.sock; add keys to the agent with ssh-add';
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const id = (eq < 0 ? spec : spec.slice(0, eq)).trim();
    if (!id || id.includes(',')) throw usageError(`${command}: bad --ssh "${spec}"`, hint);
    const given = eq < 0 ? undefined : spec.slice(eq + 1).trim();
    if (given?.includes(',')) throw usageError(`${command}: --ssh "${spec}": one agent socket per id is supported`, hint);
    const sock = given || process.env.SSH_AUTH_SOCK;
    if (!sock) throw usageError(`${command}: --ssh ${id}: SSH_AUTH_SOCK is not set`, 'start an agent (eval $(ssh-agent); ssh-add), or give its socket: --ssh ' + id + '=/path/to/agent.sock');
    let isSocket = false;
    try {
      isSocket = statSync(sock).isSocket();
    } catch {
      throw usageError(`${command}: --ssh ${id}: ${sock} does not exist`, hint);
    }
    if (!isSocket) throw usageError(`${command}: --ssh ${id}: ${sock} is not an agent socket (key files are not forwarded)`, hint);
    out[id] = resolve(sock);
  }
  return out;
}

function keyValues(spec: string, command: string, flag: string, hint: string): Record<string, string> {
  const kv: Record<string, string> = {};
  for (const part of spec.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw usageError(`${command}: bad ${flag} "${spec}": "${part}" is not key=value`, hint);
    kv[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return kv;
}

/** `type=registry,ref=REF[,mode=min|max][,cache-mounts=true]` or `type=local,dest=DIR` (`src=DIR` for --cache-from). */
export function parseCacheSpec(spec: string, command: string, flag: string): CacheSpec {
  const hint = `write ${flag} type=registry,ref=REGISTRY/REPO:TAG[,mode=min|max] or ${flag} type=local,${flag === '--cache-from' ? 'src' : 'dest'}=DIR`;
  const kv = keyValues(spec, command, flag, hint);
  const mode = kv.mode ?? 'min';
  if (mode !== 'min' && mode !== 'max') throw usageError(`${command}: ${flag} mode= takes min or max (got "${mode}")`, hint);
  const cm = kv['cache-mounts'];
  if (cm !== undefined && cm !== 'true' && cm !== 'false') throw usageError(`${command}: ${flag} cache-mounts= takes true or false (got "${cm}")`, hint);
  if (cm !== undefined && flag === '--cache-from') throw usageError(`${command}: cache-mounts= belongs to --cache-to (a --cache-from cache brings its cache mounts when it has them)`, hint);
  const extra = cm === 'true' ? { cacheMounts: true } : {};
  if (kv.type === 'registry') {
    if (!kv.ref) throw usageError(`${command}: ${flag} type=registry needs ref=REF`, hint);
    return { type: 'registry', ref: kv.ref, mode, ...extra };
  }
  if (kv.type === 'local') {
    const dir = kv.dest ?? kv.src;
    if (!dir) throw usageError(`${command}: ${flag} type=local needs dest=DIR`, hint);
    return { type: 'local', dir: resolve(dir), mode, ...extra };
  }
  throw usageError(`${command}: ${flag} type "${kv.type ?? ''}" is not supported`, hint);
}
