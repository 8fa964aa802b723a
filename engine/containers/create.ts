/**
 * `stratum run`'s options → a container record: the image's ENTRYPOINT/CMD, Env, WorkingDir,
 * User and Volumes, overridden as `docker run` overrides them. Nothing starts here.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, posix, resolve } from 'node:path';
import type { Store } from '../../cache/store-types.js';
import { EXIT, UserError } from '../errors.js';
import { mergeChain, type UnionView } from '../union-view.js';
import { resolveUser } from '../user-resolve.js';
import { listContainers, newContainerId, randomName, type ContainerMount, type ContainerRecord, type RestartPolicy } from './records.js';
import { VOLUME_NAME } from './volumes.js';

export interface RunOptions {
  image: string;
  name?: string;
  cmd: string[];
  entrypoint?: string;
  env: string[];
  envFiles: string[];
  workdir?: string;
  user?: string;
  volumes: string[];
  tmpfs: string[];
  ports: string[];
  network: 'host' | 'none';
  autoRemove: boolean;
  stopTimeoutS?: number;
  tty?: boolean;
  interactive?: boolean;
  restart?: RestartPolicy;
}

/** `--restart` as Docker spells it. */
export function parseRestart(text: string): RestartPolicy {
  const m = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(text);
  if (!m || (m[2] !== undefined && m[1] !== 'on-failure')) throw bad(`--restart "${text}" is not a restart policy`, 'use no, on-failure[:MAX-RETRIES], always or unless-stopped');
  return { name: m[1] as RestartPolicy['name'], ...(m[2] !== undefined ? { maxRetries: Number(m[2]) } : {}) };
}

export function bad(message: string, hint?: string): UserError {
  return new UserError('CONTAINER', message, hint, EXIT.usage);
}

export function imageView(store: Store, layers: readonly string[]): UnionView {
  const v = mergeChain(layers as never, (d) => store.getLayer(d));
  if (!v) throw new UserError('CONTAINER', 'a layer of the image is missing from the store', 'rebuild or reload the image', EXIT.io);
  return v;
}

function readFromView(store: Store, view: UnionView) {
  return (p: string): string | undefined => {
    const e = view.get(p);
    if (e?.type !== 'file') return undefined;
    return store.readBlob(e.digest, e.size)?.toString('utf8');
  };
}

function parseEnvLine(kv: string, into: Record<string, string>): void {
  const eq = kv.indexOf('=');
  if (eq === 0) throw bad(`bad environment variable "${kv}"`, 'write -e NAME=VALUE');
  if (eq < 0) {
    const v = process.env[kv];
    if (v !== undefined) into[kv] = v;
    return;
  }
  into[kv.slice(0, eq)] = kv.slice(eq + 1);
}

const absTarget = (t: string, flag: string) => {
  if (!t.startsWith('/')) throw bad(`${flag}: the container path "${t}" must be absolute`, `e.g. ${flag} data:/var/lib/app`);
  return posix.normalize(t).replace(/(.)\/+$/, '$1');
};

/** `-v NAME:/path[:ro]`, `-v ./dir:/path[:ro]` (a bind: the source starts with / . or ~),
 *  `-v /path` (an anonymous volume). */
export function parseVolume(spec: string, cwd: string): ContainerMount {
  const parts = spec.split(':');
  if (parts.length === 1) return { type: 'volume', name: newContainerId(), target: absTarget(parts[0]!, '-v'), readonly: false, anonymous: true };
  const [src, dst, opt] = parts as [string, string, string | undefined];
  if (parts.length > 3 || (opt !== undefined && opt !== 'ro' && opt !== 'rw')) throw bad(`-v "${spec}": expected SOURCE:TARGET[:ro|rw]`, 'e.g. -v data:/var/lib/app or -v ./conf:/etc/app:ro');
  const readonly = opt === 'ro';
  const target = absTarget(dst, '-v');
  if (src.startsWith('/') || src.startsWith('.') || src.startsWith('~')) {
    const source = src.startsWith('~') ? resolve(process.env.HOME ?? '/', src.slice(2)) : isAbsolute(src) ? src : resolve(cwd, src);
    // Docker creates a missing bind source as a directory.
    if (!existsSync(source)) mkdirSync(source, { recursive: true });
    return { type: 'bind', source, target, readonly };
  }
  if (!VOLUME_NAME.test(src)) throw bad(`-v "${spec}": "${src}" is not a valid volume name`, 'volume names use letters, digits, _ . - ; a host directory starts with / or ./');
  return { type: 'volume', name: src, target, readonly, anonymous: false };
}

function parseTmpfs(spec: string): ContainerMount {
  const [t, opts] = spec.split(':', 2) as [string, string | undefined];
  const m = /(?:^|,)size=(\d+)([kmg]?)/i.exec(opts ?? '');
  const mult: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
  return { type: 'tmpfs', target: absTarget(t, '--tmpfs'), ...(m ? { sizeBytes: Number(m[1]) * mult[m[2]!.toLowerCase()]! } : {}) };
}

const PORT = /^(?:[0-9.]+:|\[[0-9a-f:]+\]:)?(?:\d{1,5}(?:-\d{1,5})?:)?\d{1,5}(?:-\d{1,5})?(?:\/(?:tcp|udp|sctp))?$/i;

export function createContainer(store: Store, o: RunOptions, cwd: string): ContainerRecord {
  const img = store.getImage(o.image);
  if (!img) throw new UserError('NO_IMAGE', `no image "${o.image}" in the store`, 'build it with -t, or import it with `stratum load` (see `stratum images`)', EXIT.usage);
  const cfg = img.config;
  for (const p of o.ports) if (!PORT.test(p)) throw bad(`-p "${p}" is not a port mapping`, 'write -p HOST:CONTAINER, e.g. -p 8080:8080');
  if (o.network === 'none' && o.ports.length) {
    throw bad(`-p ${o.ports.join(', ')} cannot be published with --network=none: the container has only its own loopback`, 'drop -p, or use the default host network, where the container listens on the host directly');
  }
  const taken = new Set(listContainers(store).map((c) => c.name));
  if (o.name !== undefined) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(o.name)) throw bad(`--name "${o.name}" is not a valid container name`, 'use letters, digits, _ . -');
    // The authoritative check is claimContainer's, under its lock; this one fails early.
    const holder = listContainers(store).find((c) => c.name === o.name);
    if (holder) {
      throw new UserError(
        'CONTAINER',
        `Conflict. The container name "/${o.name}" is already in use by container "${holder.id}". You have to remove (or rename) that container to be able to reuse that name.`,
        holder.state.status === 'running' ? `stratum rm -f ${o.name} (it is running), or choose another --name` : `stratum rm ${o.name}, or choose another --name`,
        EXIT.usage,
      );
    }
  }
  const entry = o.entrypoint !== undefined ? (o.entrypoint ? [o.entrypoint] : []) : (cfg.Entrypoint ?? []);
  const args = o.cmd.length ? o.cmd : o.entrypoint !== undefined ? [] : (cfg.Cmd ?? []);
  const argv = [...entry, ...args];
  if (!argv.length) throw bad(`the image "${img.name}" has no CMD or ENTRYPOINT and no command was given`, `write stratum run ${o.image} COMMAND...`);
  const env: Record<string, string> = {};
  for (const kv of cfg.Env ?? []) parseEnvLine(kv, env);
  for (const f of o.envFiles) {
    let text: string;
    try {
      text = readFileSync(resolve(cwd, f), 'utf8');
    } catch {
      throw bad(`--env-file ${f}: cannot read it`, 'pass a file of NAME=VALUE lines');
    }
    for (const line of text.split('\n')) if (line.trim() && !line.trim().startsWith('#')) parseEnvLine(line.replace(/\r$/, ''), env);
  }
  for (const kv of o.env) parseEnvLine(kv, env);
  env.PATH ??= '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  env.HOSTNAME ??= 'stratum';
  if (o.tty) env.TERM ??= 'xterm'; // as Docker sets it for -t
  const view = imageView(store, img.layers);
  const userSpec = o.user ?? cfg.User ?? '';
  const u = resolveUser(userSpec, readFromView(store, view));
  if (!u.ok) throw bad(`user "${userSpec}": ${u.message}`, u.hint);
  if (u.user && !env.HOME) env.HOME = u.user.home;
  env.HOME ??= '/root';
  const mounts: ContainerMount[] = [...o.volumes.map((v) => parseVolume(v, cwd)), ...o.tmpfs.map(parseTmpfs)];
  for (const v of Object.keys(cfg.Volumes ?? {})) {
    const target = posix.normalize(v);
    if (!mounts.some((m) => m.target === target)) mounts.push({ type: 'volume', name: newContainerId(), target, readonly: false, anonymous: true });
  }
  for (const m of mounts) {
    if (m.type === 'bind' && !statSync(m.source).isDirectory() && view.get(m.target.slice(1))?.type === 'dir') throw bad(`-v ${m.source}:${m.target}: a file cannot be mounted over a directory`);
  }
  const stopTimeoutS = o.stopTimeoutS ?? 10;
  return {
    id: newContainerId(),
    name: o.name ?? randomName(taken),
    image: { name: img.name, layers: img.layers, chain: img.chain, config: cfg },
    config: {
      argv,
      env,
      cwd: o.workdir ?? (cfg.WorkingDir || '/'),
      ...(u.user ? { user: { uid: u.user.uid, gid: u.user.gid, groups: u.user.groups } } : {}),
      ...(userSpec ? { userSpec } : {}),
      mounts,
      network: o.network,
      ports: o.ports,
      autoRemove: o.autoRemove,
      stopSignal: cfg.StopSignal ?? 'SIGTERM',
      stopTimeoutS,
      ...(o.tty ? { tty: true } : {}),
      ...(o.interactive ? { interactive: true } : {}),
      ...(o.restart && o.restart.name !== 'no' ? { restart: o.restart } : {}),
    },
    created: new Date().toISOString(),
    state: { status: 'created' },
  };
}
