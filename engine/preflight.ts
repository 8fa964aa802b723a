/**
 * What a build checks before its first step runs: the environment, the store directory, the
 * `-t` names and the `-o` destinations. A mistake in any of them is reported in a second,
 * not after a ten-minute build (and never as a stack trace).
 */
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { normalizeImageName } from '../cache/image-name.js';
import type { Store } from '../cache/store-types.js';
import type { OutputSpec } from './build.js';
import { stratumEnv } from './env.js';
import { EXIT, UserError } from './errors.js';
import { checkLocalDest } from './output-local.js';

/** The store's root is a directory, or can be made one; with `write`, it is made and writable. */
export function checkStoreRoot(root: string, write: boolean): void {
  const st = statOrUndefined(root);
  if (st && !st.isDirectory()) {
    throw new UserError('STORE_NOT_DIR', `the store ${root} is not a directory`, 'pass --cache-dir a directory (it is created if missing), or fix STRATUM_CACHE_DIR', EXIT.usage, undefined, root);
  }
  if (!write) return;
  // mkdir and access throw errno errors (ENOTDIR, EACCES, EROFS…) that toUserError explains.
  mkdirSync(root, { recursive: true });
  accessSync(root, constants.W_OK);
}

/** The nearest existing ancestor of `dest` is a directory (so the output can be created). */
function checkParent(dest: string): void {
  for (let p = dirname(dest); ; p = dirname(p)) {
    const st = statOrUndefined(p);
    if (st) {
      if (!st.isDirectory()) throw new UserError('OUTPUT_PARENT', `cannot create output ${dest}: ${p} is not a directory`, 'choose a dest= whose parent is a directory', EXIT.usage, undefined, dest);
      return;
    }
    if (dirname(p) === p) return;
  }
}

/** Throws the first problem with the request as a UserError (or an errno error for the store). */
export async function preflight(opts: { store: Store; tags?: string[] | undefined; outputs?: OutputSpec[] | undefined; dryRun?: boolean | undefined }): Promise<void> {
  stratumEnv();
  checkStoreRoot(opts.store.root, !opts.dryRun);
  for (const tag of opts.tags ?? []) normalizeImageName(tag);
  if (opts.dryRun) return;
  const dests = new Set<string>();
  for (const out of opts.outputs ?? []) {
    if (dests.has(out.dest)) throw new UserError('USAGE', `two outputs write to ${out.dest}`, 'give each -o its own dest=', EXIT.usage, undefined, out.dest);
    dests.add(out.dest);
    checkParent(out.dest);
    if (out.type === 'local') checkLocalDest(opts.store, out.dest);
    else {
      const { checkFileDest, checkLayoutDest } = await import('./oci/export.js');
      if (out.tar) checkFileDest(out.dest);
      else checkLayoutDest(out.dest);
    }
  }
}

function statOrUndefined(p: string) {
  try {
    return statSync(p);
  } catch (err) {
    // ENOTDIR: a component above is a file; the caller climbs to it, or mkdir reports it.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}
