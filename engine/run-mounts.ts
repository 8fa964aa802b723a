/**
 * `RUN --mount=…` resolved to what an executor places into the root: a host directory or
 * file bound at an absolute target, or a tmpfs. Contents never enter a layer or a key (the
 * key holds the mount's options only).
 *
 * - cache: a persistent directory per id under the store, shared by every build that names
 *   the same id;
 * - bind: a path of the context, read-only, as a staged copy of exactly the files the step's
 *   key covers (engine/bind-mount.ts);
 * - tmpfs: an empty tmpfs;
 * - secret: a file given with `--secret id=ID,src=FILE|env=VAR`, bound read-only at
 *   `/run/secrets/ID` (or `target=`); an env secret is written to a 0600 file on a tmpfs
 *   (`/dev/shm`) for the RUN and removed after it. A secret's value never enters a layer, a key
 *   (which holds only the mount's options) or a log. A missing secret fails the step when
 *   `required=true`, and is left out otherwise, as BuildKit does;
 * - bind `from=<stage|image>`: its `source` subtree, copied out of the stage's layers
 *   (engine/bind-mount.ts), read-only;
 * - ssh: the agent socket given with `--ssh ID[=SOCKET]` (default: $SSH_AUTH_SOCK), bound at
 *   `/run/buildkit/ssh_agent.N` (or `target=`), SSH_AUTH_SOCK set to the first one; skipped
 *   when not forwarded unless `required=true`, as BuildKit does. Never in a layer or a key;
 * - bind `rw` (either kind): writable, and the writes are dropped, as BuildKit drops them: a
 *   directory gets an overlay whose upper is a tmpfs of the RUN's mount namespace (nothing
 *   the RUN writes, under whatever id, lands on the host), a file is the staged copy itself.
 */
import { join, posix, resolve } from 'node:path';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import type { Store } from '../cache/store-types.js';
import type { Mount } from './dockerfile/types.js';
import type { ExecMount } from './executor-types.js';
import type { OwnedDir } from '../cache/owned-dirs.js';
import { acquireCache, type MountOptions } from './cache-mounts.js';
import type { SourceMatch } from './context.js';
import { stageContextBind } from './bind-mount.js';

export class MountError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/** The mounts of a RUN, and a release() that gives back the cache directories it holds. */
/** Where a build's secrets come from (`--secret id=ID,src=FILE|env=VAR`). */
export type SecretSource = { src: string } | { env: string };

export async function resolveMounts(
  store: Store,
  contextDir: string,
  workdir: string,
  mounts: readonly Mount[],
  o: MountOptions & {
    secrets?: Record<string, SecretSource>;
    env?: NodeJS.ProcessEnv;
    /** Context binds, as fingerprinted for the key (engine/bind-mount.ts contextBinds). */
    binds?: Map<Mount, SourceMatch>;
    /** `bind,from=`: copies the mount's source out of its stage or image into `dir`. */
    stageFrom?: (m: Mount, dir: string) => string;
    /** `--ssh`: agent sockets by id. */
    ssh?: Record<string, string>;
  },
): Promise<{ mounts: ExecMount[]; release(): void; env: Record<string, string> }> {
  const env: Record<string, string> = {};
  let sshMounts = 0;
  const out: ExecMount[] = [];
  const held: OwnedDir[] = [];
  const temp: string[] = [];
  const release = () => {
    for (const d of held.splice(0)) d.release();
    for (const f of temp.splice(0)) rmWritable(f);
  };
  try {
    for (const m of mounts) {
      if (m.type === 'ssh') {
        const id = m.id ?? 'default';
        const sock = o.ssh?.[id];
        if (!sock) {
          if (m.required) throw new MountError(`ssh agent "${id}" is required but was not forwarded`, `pass it with --ssh ${id === 'default' ? 'default' : `${id}=/path/to/agent.sock`}`);
          continue;
        }
        if (!existsSync(sock)) throw new MountError(`ssh agent "${id}": ${sock} no longer exists`, 'start the agent again, or pass another socket with --ssh');
        const target = m.target ? posix.resolve(workdir || '/', m.target) : `/run/buildkit/ssh_agent.${sshMounts}`;
        sshMounts++;
        out.push({ type: 'bind', source: sock, target, readonly: false });
        // As BuildKit: the first ssh mount is the command's agent.
        env.SSH_AUTH_SOCK ??= target;
        continue;
      }
      if (m.type === 'secret') {
        const s = secretMount(m, workdir, o.secrets ?? {}, o.env ?? process.env, temp);
        if (s) out.push(s);
        continue;
      }
      if (m.type === 'bind' && m.from !== undefined && o.stageFrom) {
        const dir = mkdtempSync(join(tmpdir(), 'stratum-bind-'));
        temp.push(dir);
        out.push(placed(o.stageFrom(m, dir), dir, posix.resolve(workdir || '/', m.target || '.'), m));
        continue;
      }
      if (m.type === 'bind' && m.from === undefined) {
        const match = o.binds?.get(m);
        if (!match) throw new Error(`internal: the bind mount of ${m.source ?? '.'} was not fingerprinted`);
        const dir = mkdtempSync(join(tmpdir(), 'stratum-bind-'));
        temp.push(dir);
        out.push(placed(stageContextBind(match, dir), dir, posix.resolve(workdir || '/', m.target || '.'), m));
        continue;
      }
      out.push(...(await resolveOne(store, contextDir, workdir, m, o, held)));
    }
  } catch (err) {
    release();
    throw err;
  }
  return { mounts: out, release, env };
}

async function resolveOne(store: Store, contextDir: string, workdir: string, m: Mount, o: MountOptions, held: OwnedDir[]): Promise<ExecMount[]> {
  const out: ExecMount[] = [];
  {
    const target = posix.resolve(workdir || '/', m.target || '.');
    switch (m.type) {
      case 'cache': {
        if (target === '/') throw new MountError('RUN --mount=type=cache over / would hide the whole image', 'give the cache mount a target directory');
        const id = m.id ?? posix.resolve('/', m.target);
        const owned = await acquireCache(store, id, m.sharing ?? 'shared', o);
        held.push(owned);
        await o.seed?.(id, owned);
        o.lease?.add({ dirs: [owned.path] });
        out.push({ type: 'bind', source: owned.path, target, readonly: false });
        break;
      }
      case 'tmpfs':
        out.push({ type: 'tmpfs', target });
        break;
      case 'bind':
        // From the context: staged by resolveMounts (above).
        throw new MountError(`RUN --mount=type=bind,from=${m.from} is not supported yet`, 'COPY --from the stage into this one instead');
      case 'secret': // handled by secretMount
      case 'ssh': // handled above
        break;
    }
  }
  return out;
}

function secretMount(m: Mount, workdir: string, secrets: Record<string, SecretSource>, env: NodeJS.ProcessEnv, temp: string[]): ExecMount | undefined {
  if ('env' in m.raw) throw new MountError('RUN --mount=type=secret,env=… is not supported yet', 'mount the secret as a file (the default, /run/secrets/<id>) and read it from there');
  const id = m.id ?? (m.target ? posix.basename(m.target) : undefined);
  if (!id) throw new MountError('RUN --mount=type=secret needs id= or target=', 'e.g. --mount=type=secret,id=npmrc');
  const target = m.target ? posix.resolve(workdir || '/', m.target) : `/run/secrets/${id}`;
  const src = secrets[id];
  if (!src) {
    if (m.required) throw new MountError(`secret "${id}" is required but was not given`, `pass it with --secret id=${id},src=FILE or --secret id=${id},env=VAR`);
    return undefined;
  }
  if ('src' in src) {
    if (!existsSync(src.src)) throw new MountError(`secret "${id}": ${src.src} does not exist`, 'check the src= path of --secret');
    return { type: 'bind', source: resolve(src.src), target, readonly: true };
  }
  const value = env[src.env];
  if (value === undefined) {
    if (m.required) throw new MountError(`secret "${id}": the variable ${src.env} is not set`, `export ${src.env}, or pass --secret id=${id},src=FILE`);
    return undefined;
  }
  // On a tmpfs where there is one, so the value never touches a disk; removed after the RUN.
  const dir = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const file = join(dir, `stratum-secret-${process.pid}-${randomBytes(8).toString('hex')}`);
  writeFileSync(file, value, { mode: 0o600, flag: 'wx' });
  temp.push(file);
  return { type: 'bind', source: file, target, readonly: true };
}

/** A staged bind source as the RUN's mount: read-only, or with `rw` writable with its writes dropped. */
function placed(source: string, dir: string, target: string, m: Mount): ExecMount {
  if (!('rw' in m.raw || 'readwrite' in m.raw)) return { type: 'bind', source, target, readonly: true };
  if (!statSync(source).isDirectory()) return { type: 'bind', source, target, readonly: false };
  const scratch = join(dir, 'scratch');
  mkdirSync(scratch);
  return { type: 'bind', source, target, readonly: false, discard: { scratch } };
}

/** Remove a staged file or tree, also one with read-only directories (a context dir of mode 0555). */
function rmWritable(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch {
    const open = (p: string) => {
      try {
        chmodSync(p, 0o700);
        for (const d of readdirSync(p, { withFileTypes: true })) if (d.isDirectory()) open(join(p, d.name));
      } catch {
        // gone, or not ours
      }
    };
    open(path);
    rmSync(path, { recursive: true, force: true });
  }
}
