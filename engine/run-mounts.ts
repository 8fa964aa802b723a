/**
 * `RUN --mount=…` resolved to what an executor places into the root: a host directory or
 * file bound at an absolute target, or a tmpfs. Contents never enter a layer or a key (the
 * key holds the mount's options only).
 *
 * - cache: a persistent directory per id under the store, shared by every build that names
 *   the same id;
 * - bind: a path of the context, read-only;
 * - tmpfs: an empty tmpfs;
 * - secret, ssh, bind `from=`: not yet supported, refused with a clear error rather than
 *   run without them.
 */
import { posix, resolve, sep } from 'node:path';
import { existsSync } from 'node:fs';
import type { Store } from '../cache/store-types.js';
import type { Mount } from './dockerfile/types.js';
import type { ExecMount } from './executor-types.js';
import type { OwnedDir } from '../cache/owned-dirs.js';
import { acquireCache, type MountOptions } from './cache-mounts.js';

export class MountError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/** The mounts of a RUN, and a release() that gives back the cache directories it holds. */
export async function resolveMounts(
  store: Store,
  contextDir: string,
  workdir: string,
  mounts: readonly Mount[],
  o: MountOptions,
): Promise<{ mounts: ExecMount[]; release(): void }> {
  const out: ExecMount[] = [];
  const held: OwnedDir[] = [];
  const release = () => {
    for (const d of held.splice(0)) d.release();
  };
  try {
    for (const m of mounts) out.push(...(await resolveOne(store, contextDir, workdir, m, o, held)));
  } catch (err) {
    release();
    throw err;
  }
  return { mounts: out, release };
}

async function resolveOne(store: Store, contextDir: string, workdir: string, m: Mount, o: MountOptions, held: OwnedDir[]): Promise<ExecMount[]> {
  const out: ExecMount[] = [];
  {
    const target = posix.resolve(workdir || '/', m.target || '.');
    switch (m.type) {
      case 'cache': {
        if (target === '/') throw new MountError('RUN --mount=type=cache over / would hide the whole image', 'give the cache mount a target directory');
        const owned = await acquireCache(store, m.id ?? posix.resolve('/', m.target), m.sharing ?? 'shared', o);
        held.push(owned);
        o.lease?.add({ dirs: [owned.path] });
        out.push({ type: 'bind', source: owned.path, target, readonly: false });
        break;
      }
      case 'tmpfs':
        out.push({ type: 'tmpfs', target });
        break;
      case 'bind': {
        if (m.from !== undefined) throw new MountError(`RUN --mount=type=bind,from=${m.from} is not supported yet`, 'COPY --from the stage into this one instead');
        const source = resolve(contextDir, (m.source ?? '.').replace(/^\/+/, ''));
        if (source !== contextDir && !source.startsWith(contextDir + sep)) throw new MountError(`RUN --mount=type=bind source ${m.source} is outside the build context`, 'bind a path inside the context');
        if (!existsSync(source)) throw new MountError(`RUN --mount=type=bind source ${m.source ?? '.'} does not exist in the context`, 'check the source= path (relative to the context)');
        // BuildKit discards a writable bind's writes; binding the context itself writable
        // would change the user's files, so rw is refused until it gets a scratch copy.
        if ('rw' in m.raw || 'readwrite' in m.raw) throw new MountError('RUN --mount=type=bind,rw is not supported yet', 'drop rw (the mount is read-only), or COPY the files in');
        out.push({ type: 'bind', source, target, readonly: true });
        break;
      }
      case 'secret':
      case 'ssh':
        throw new MountError(`RUN --mount=type=${m.type} is not supported yet`, 'pass the value another way for now; stratum will not run the step without the mount it asks for');
    }
  }
  return out;
}
