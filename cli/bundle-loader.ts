/**
 * Runs the CLI's bundle (dist/bundle/main.cjs, one CommonJS file made by
 * scripts/postbuild.mjs) with a V8 code cache beside it, dist/bundle/main.cjs.v8cache.
 *
 * Why: compiling the bundle and then, lazily, every function a build calls is most of what
 * start-up costs above node's own boot. Node 20 has no compile cache for modules
 * (module.enableCompileCache is Node ≥ 22.1), but vm.Script takes V8's cached data: the
 * bytecode of every function compiled in an earlier run. Measured on a warm no-change build
 * of the 10k-file context, paired: 0.88× CPU with the cache against the same bundle without.
 *
 * Correctness: V8 rejects data from another V8 version or other flags, and checks only the
 * source's length; so the file starts with a stamp of the bundle it was made from (size,
 * mtime, inode: the build writes a new file, and an edit changes the mtime) and of node's
 * version, and data whose stamp differs is not given to V8. Rejected, stale, missing or
 * damaged data is made again at exit (temp file + rename: a reader sees an old file or a new
 * one, never half of one); a folder the user cannot write (a root-owned install) just runs
 * without a cache. Data made by a command other than build or watch holds little of the
 * build path, so the first build after it makes it again.
 */
import { closeSync, fstatSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Script } from 'node:vm';

const importEsm = (url: string): Promise<unknown> => import(url);

const MAGIC = 'stratum-v8-cache-1';
/** The commands whose cached data is kept for the others too: they compile the build path. */
const BUILDS = new Set(['build', 'watch']);
/** The stamp line is short; a file without a newline this early is not ours. */
const MAX_STAMP = 512;

/** The CommonJS wrapper, on the bundle's first line so that lines keep their numbers, plus
 *  the loader's `import()` (cli/esm-import.ts: a vm.Script's own needs a flag on Node 20) and
 *  what a module's `import.meta.url` became (scripts/postbuild.mjs keepImportMetaUrl). Only
 *  parameters: the bundle's own "use strict" stays first in the body. */
const WRAP_HEAD = '(function (exports, require, module, __filename, __dirname, __stratumImport, __stratumFileUrl) {';

export function runBundle(file: string, command: string | undefined): void {
  const fileUrl = (rel: string) => pathToFileURL(join(dirname(file), rel)).href;
  // `node --enable-source-maps`: node maps stack traces of the modules it loads itself, not of
  // a vm.Script; so the bundle is required, uncached, and its .map names the .ts sources.
  if ((process as { sourceMapsEnabled?: boolean }).sourceMapsEnabled) {
    (globalThis as { __stratumFileUrl?: unknown }).__stratumFileUrl = fileUrl;
    createRequire(file)(file);
    return;
  }
  const fd = openSync(file, 'r');
  let source: string;
  let stamp: string;
  try {
    const st = fstatSync(fd);
    stamp = `${MAGIC} ${st.size} ${st.mtimeMs} ${st.ino} ${process.version} ${process.arch}`;
    source = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  const cacheFile = `${file}.v8cache`;
  const cached = readCache(cacheFile, stamp);
  // A hashbang line is not JavaScript inside a function: make it a comment of the same length.
  const body = source.startsWith('#!') ? `//${source.slice(2)}` : source;
  const script = new Script(`${WRAP_HEAD}${body}\n})`, {
    filename: file,
    ...(cached ? { cachedData: cached.data } : {}),
  });
  const byBuild = command !== undefined && BUILDS.has(command);
  if (!cached || script.cachedDataRejected || (byBuild && !cached.byBuild)) {
    process.once('exit', () => writeCache(cacheFile, stamp, byBuild, script));
  }
  const module = { exports: {} };
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, createRequire(file), module, file, dirname(file), importEsm, fileUrl);
}

/** The cached data when the file is there and its stamp is this bundle's, else undefined. */
function readCache(path: string, stamp: string): { data: Buffer; byBuild: boolean } | undefined {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch {
    return undefined;
  }
  const nl = raw.subarray(0, MAX_STAMP).indexOf(10);
  if (nl < 0) return undefined;
  const line = raw.toString('latin1', 0, nl);
  const by = line.slice(line.lastIndexOf(' ') + 1);
  if (line.slice(0, line.lastIndexOf(' ')) !== stamp || (by !== 'build' && by !== 'other')) return undefined;
  return { data: raw.subarray(nl + 1), byBuild: by === 'build' };
}

function writeCache(path: string, stamp: string, byBuild: boolean, script: Script): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    const data = script.createCachedData();
    writeFileSync(tmp, Buffer.concat([Buffer.from(`${stamp} ${byBuild ? 'build' : 'other'}\n`, 'latin1'), data]), { mode: 0o644 });
    renameSync(tmp, path);
  } catch {
    // Not writable (a root-owned install), or full: the next run compiles again, as without a cache.
    rmSync(tmp, { force: true });
  }
}
