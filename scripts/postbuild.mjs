// After tsc: bundle the CLI (esbuild) and make its entry executable (npm links `bin` to it).
//
// Start-up is a feature: loading the ~100 modules of the build path one by one cost ~110 ms of
// a warm no-change build (resolve, read and compile each; bench/findings.md). The bundle puts
// tsc's output of cli/main.ts and everything it imports into dist/bundle/, code split at the
// dynamic imports, so what loads lazily (each command, the executors, Ink and the UI, the
// registry client) still loads only when used, and a warm build reads ~30 files instead of ~100.
// npm packages stay outside (resolved from node_modules as before).
//
// Then dist/cli/main.js, tsc's output, becomes a one-line loader of the bundle, so `bin`, the
// tests and the benchmarks all run what users run. Running tsc alone writes tsc's main.js back
// (the CLI then runs unbundled, and is never stale); a second postbuild without tsc finds the
// loader and leaves the bundle as it is (nothing under dist/ changed since it was made).
//
// dist/ keeps every module tsc wrote: the tests import them directly.
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const main = `${dist}cli/main.js`;
const outdir = `${dist}bundle`;
const LOADER_MARK = '// stratum: loads the bundle';

/** The modules a warm `stratum build` runs, besides main.ts's own: what cli/main.ts imports
 *  before it calls buildCommand, and everything these import statically. */
const HOT_ROOTS = ['cli/options.js', 'cli/commands/build.js'].map((f) => dist + f);
const HOT = 'stratum:hot';

if (existsSync(main) && !readFileSync(main, 'utf8').includes(LOADER_MARK)) {
  rmSync(outdir, { recursive: true, force: true });
  const options = {
    entryPoints: { main },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    // Chained to tsc's maps, so positions map to the .ts sources:
    // `node --enable-source-maps dist/cli/main.js …` prints them in a stack trace.
    sourcemap: 'linked',
    sourcesContent: false,
    logLevel: 'warning',
  };
  // First pass, nothing written: the module graph, for the hot set and the dynamic imports.
  const graph = (await esbuild.build({ ...options, write: false, metafile: true, plugins: [keepImportMetaUrl()] })).metafile;
  await esbuild.build({ ...options, plugins: [hotChunk(graph), keepImportMetaUrl()] });
  writeFileSync(main, `#!/usr/bin/env node\n${LOADER_MARK} (dist/bundle/, made by scripts/postbuild.mjs from tsc's output of cli/main.ts)\nimport '../bundle/main.js';\n`);
  rmSync(`${main}.map`, { force: true });
}
if (existsSync(main)) chmodSync(main, 0o755);

/**
 * A module's `import.meta.url` names the module itself: code finds files beside it
 * (`new URL('../../cli/main.js', import.meta.url)`, `createRequire(import.meta.url)`). In a
 * bundle it would name the chunk instead, so each module's is rewritten to the URL of the file
 * tsc wrote for it, relative to the chunk (all chunks are in one folder): the same file as
 * before, wherever dist/ is installed.
 */
function keepImportMetaUrl() {
  return {
    name: 'keep-import-meta-url',
    setup(build) {
      build.onLoad({ filter: /\.js$/ }, (args) => {
        if (!args.path.startsWith(dist)) return undefined;
        const text = loadText(args.path);
        return text === undefined ? undefined : { contents: text, loader: 'js', resolveDir: dirname(args.path) };
      });
    },
  };
}

/** A module's text with its `import.meta.url` rewritten (keepImportMetaUrl), or undefined
 *  when there is none to rewrite. */
function loadText(path) {
  const text = readFileSync(path, 'utf8');
  if (!text.includes('import.meta.url')) return undefined;
  const rel = relative(outdir, path).split('\\').join('/');
  return text.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`);
}

/**
 * The warm build path as ONE chunk. esbuild puts each module into the chunk of the set of
 * entries (main and every dynamic import) that reach it, so the build path, shared in
 * different ways by ~40 lazily loaded commands and engine parts, came out as ~30 chunks, each
 * one more file to resolve, read, compile and link at start-up. Here every dynamic import
 * loads a small virtual entry instead of its module: it imports the whole hot set
 * (HOT_ROOTS and their static imports) and re-exports the module. Each hot module is then
 * reached by every dynamic entry, the same set, so they are one chunk. What is not on the hot
 * path (Ink, the executors, OCI and the registry, containers, the other commands) stays in its
 * own chunks, loaded when used; main.ts's own imports stay in main's small chunk, so
 * `stratum --version` does not load the build path. A lazily loaded part now loads the hot
 * chunk too (a build has loaded it already anyway; another command pays ~300 KB of it).
 */
function hotChunk(graph) {
  const inputs = new Map(Object.entries(graph.inputs).map(([p, v]) => [resolvePath(p), v]));
  const hot = new Set();
  const visit = (file) => {
    if (hot.has(file) || !inputs.has(file)) return;
    hot.add(file);
    for (const i of inputs.get(file).imports) if (i.kind === 'import-statement' && !i.external) visit(resolvePath(i.path));
  };
  for (const root of HOT_ROOTS) {
    if (!inputs.has(root)) throw new Error(`postbuild: ${root} is not in the bundle (HOT_ROOTS is out of date)`);
    visit(root);
  }
  return {
    name: 'hot-chunk',
    setup(build) {
      build.onResolve({ filter: /^stratum:hot$/ }, () => ({ path: 'hot', namespace: 'stratum-hot' }));
      build.onResolve({ filter: /^\./ }, (args) => {
        if (args.kind !== 'dynamic-import' || args.namespace !== 'file') return undefined;
        const file = resolvePath(args.resolveDir, args.path);
        return inputs.has(file) ? { path: file, namespace: 'stratum-lazy' } : undefined;
      });
      build.onLoad({ filter: /.*/, namespace: 'stratum-hot' }, () => ({
        contents: [...hot].map((f) => `import ${JSON.stringify(f)};`).join('\n'),
        loader: 'js',
        resolveDir: dist,
      }));
      // No module of dist/ has a default export (tsc's output; checked when this was written).
      build.onLoad({ filter: /.*/, namespace: 'stratum-lazy' }, (args) => ({
        contents: `import "stratum:hot";\nexport * from ${JSON.stringify(args.path)};\n`,
        loader: 'js',
        resolveDir: dirname(args.path),
      }));
    },
  };
}
await import('./bundle-ui.mjs');
