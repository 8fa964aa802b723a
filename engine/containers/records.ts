/**
 * Containers and volumes on disk, beside the store's content-addressed entries:
 *
 *   <store>/containers-v1/<id>/state.json   the record (written to a temp name, renamed)
 *                             u/ w/         overlay upperdir (the writable layer) and workdir
 *                             m/ i/         root mount point, init layer (rebuilt per start)
 *                             log           the container's output (stdout and stderr)
 *   <store>/volumes-v1/<name>/meta.json, _data/
 *
 * Not under `dirs/`: those are slots that `prune` may sweep; a container lives until `rm`.
 * A record whose state is `running` is believed only while its supervisor (the foreground
 * CLI, or the detached shim) is alive with the same start time: a killed supervisor took its
 * container with it (PR_SET_PDEATHSIG), so the container reads as exited.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { ChainDigest, LayerDigest } from '../../cache/digest.js';
import type { ImageConfig, Store } from '../../cache/store-types.js';
import { tryLock } from '../../cache/lock-file.js';
import { EXIT, UserError } from '../errors.js';

export type ContainerMount =
  | { type: 'volume'; name: string; target: string; readonly: boolean; anonymous: boolean }
  | { type: 'bind'; source: string; target: string; readonly: boolean }
  | { type: 'tmpfs'; target: string; sizeBytes?: number };

export interface ContainerConfig {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  user?: { uid: number; gid: number; groups?: number[] };
  /** As given (`-u`), for ps/inspect. */
  userSpec?: string;
  mounts: ContainerMount[];
  network: 'host' | 'none';
  /** `-p` as given: documentation only on the host network. */
  ports: string[];
  autoRemove: boolean;
  stopSignal: string;
  stopTimeoutS: number;
  /** `-t`: the command runs on a pty of the container's devpts, as its session leader. */
  tty?: boolean;
  /** `-i`: stdin is forwarded (foreground runs and `start -a`). */
  interactive?: boolean;
  restart?: RestartPolicy;
}

/** `--restart=no|on-failure[:N]|always|unless-stopped`. */
export interface RestartPolicy {
  name: 'no' | 'on-failure' | 'always' | 'unless-stopped';
  maxRetries?: number;
}

export type ContainerStatus = 'created' | 'running' | 'exited';

export interface ContainerRecord {
  id: string;
  name: string;
  image: { name: string; layers: LayerDigest[]; chain: ChainDigest; config: ImageConfig };
  config: ContainerConfig;
  created: string;
  state: {
    status: ContainerStatus;
    /** Supervisor pid and its start time (/proc/<pid>/stat field 22), to survive pid reuse. */
    pid?: number;
    pidStart?: string;
    /** The sandbox helper's pid (its process group leader), for exec. */
    helperPid?: number;
    detached?: boolean;
    startedAt?: string;
    finishedAt?: string;
    exitCode?: number | null;
    error?: string;
    /** Waiting out the restart policy's back-off (the supervisor is alive, nothing runs). */
    restarting?: boolean;
    restartCount?: number;
  };
}

export function containersRoot(store: Store): string {
  return join(store.root, 'containers-v1');
}
export function volumesRoot(store: Store): string {
  return join(store.root, 'volumes-v1');
}
export function containerDir(store: Store, id: string): string {
  return join(containersRoot(store), id);
}

export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
  renameSync(tmp, path);
}

/** /proc/<pid>/stat start time, or undefined when the process is gone. */
export function procStart(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    if (f[0] === 'Z' || f[0] === 'X') return undefined;
    return f[19];
  } catch {
    return undefined;
  }
}

export function supervisorAlive(rec: ContainerRecord): boolean {
  const { pid, pidStart } = rec.state;
  return pid !== undefined && pidStart !== undefined && procStart(pid) === pidStart;
}

export function saveContainer(store: Store, rec: ContainerRecord): void {
  const dir = containerDir(store, rec.id);
  mkdirSync(dir, { recursive: true });
  writeJsonAtomic(join(dir, 'state.json'), rec);
}

/** The record as stored, with a dead supervisor's `running` read as exited (and saved so). */
export function loadContainer(store: Store, id: string): ContainerRecord | undefined {
  let rec: ContainerRecord;
  try {
    rec = JSON.parse(readFileSync(join(containerDir(store, id), 'state.json'), 'utf8')) as ContainerRecord;
  } catch {
    return undefined;
  }
  if (rec.state.status === 'running' && !supervisorAlive(rec)) {
    // Re-read: the supervisor may have written its exit between the two reads.
    try {
      const again = JSON.parse(readFileSync(join(containerDir(store, id), 'state.json'), 'utf8')) as ContainerRecord;
      if (again.state.status !== 'running') return again;
    } catch {
      // gone
    }
    rmSync(join(store.dir('layers-x', 'v1'), `container-${id}.lock`), { force: true });
    rec.state = { ...rec.state, status: 'exited', exitCode: 137, finishedAt: new Date().toISOString(), error: 'its supervising process died (killed?); the container went with it' };
    delete rec.state.restarting;
    saveContainer(store, rec);
  }
  return rec;
}

export function listContainers(store: Store): ContainerRecord[] {
  let ids: string[] = [];
  try {
    ids = readdirSync(containersRoot(store));
  } catch {
    return [];
  }
  return ids
    .filter((n) => /^[0-9a-f]{64}$/.test(n))
    .map((id) => loadContainer(store, id))
    .filter((r): r is ContainerRecord => r !== undefined)
    .sort((a, b) => b.created.localeCompare(a.created));
}

/** By exact name, full id, or unique id prefix (as docker resolves them). */
export function findContainer(store: Store, ref: string): ContainerRecord | undefined {
  const all = listContainers(store);
  const byName = all.find((c) => c.name === ref || c.id === ref);
  if (byName) return byName;
  const pre = all.filter((c) => ref.length >= 3 && c.id.startsWith(ref));
  return pre.length === 1 ? pre[0] : undefined;
}

/**
 * Save a new container's record under its name, atomically: of several processes that create
 * a container named `web` at once, exactly one succeeds (the check and the write happen under
 * one lock file, `names.lock`), the others get Docker's conflict error and write nothing.
 * A random name (no --name) that turns out taken is drawn again.
 */
export function claimContainer(store: Store, rec: ContainerRecord, named: boolean): void {
  mkdirSync(containersRoot(store), { recursive: true });
  const path = join(containersRoot(store), 'names.lock');
  const deadline = Date.now() + 30_000;
  let lock = tryLock(path);
  while (!lock) {
    if (Date.now() > deadline) throw new UserError('CONTAINER', `could not take ${path} within 30 s`, 'another stratum is creating a container; if none is, remove the file', EXIT.io);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    lock = tryLock(path);
  }
  try {
    const taken = new Map(listContainers(store).map((c) => [c.name, c]));
    const holder = taken.get(rec.name);
    if (holder) {
      if (!named) rec.name = randomName(new Set(taken.keys()));
      else {
        throw new UserError(
          'CONTAINER',
          `Conflict. The container name "/${rec.name}" is already in use by container "${holder.id}". You have to remove (or rename) that container to be able to reuse that name.`,
          holder.state.status === 'running' ? `stratum rm -f ${rec.name} (it is running), or choose another --name` : `stratum rm ${rec.name}, or choose another --name`,
          EXIT.usage,
        );
      }
    }
    saveContainer(store, rec);
  } finally {
    lock.release();
  }
}

export function newContainerId(): string {
  return randomBytes(32).toString('hex');
}

const ADJ = ['brave', 'calm', 'eager', 'fond', 'keen', 'lucid', 'merry', 'quiet', 'sharp', 'vivid'];
const NOUN = ['turing', 'hopper', 'lovelace', 'ritchie', 'knuth', 'liskov', 'dijkstra', 'torvalds', 'hamilton', 'kay'];
export function randomName(taken: Set<string>): string {
  for (;;) {
    const b = randomBytes(3);
    const n = `${ADJ[b[0]! % ADJ.length]}_${NOUN[b[1]! % NOUN.length]}${taken.size > 50 ? b[2] : ''}`;
    if (!taken.has(n)) return n;
  }
}

export function hasContainers(store: Store): boolean {
  return existsSync(containersRoot(store));
}

/** Layers every container stands on: roots for prune. */
export function containerLayers(store: Store): Set<LayerDigest> {
  const out = new Set<LayerDigest>();
  for (const c of listContainers(store)) for (const l of c.image.layers) out.add(l);
  return out;
}
