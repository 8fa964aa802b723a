// After tsc: bundle the CLI (esbuild) and make its entry executable (npm links `bin` to it).
//
// Start-up is a feature: loading the ~100 modules of the build path one by one cost ~110 ms of
// a warm no-change build (resolve, read and compile each; bench/findings.md). The bundle puts
// tsc's output of cli/main.ts, everything it imports and the npm packages it uses into ONE
// CommonJS file, dist/bundle/main.cjs: esbuild wraps each lazily imported module in an init
// function, so what loads lazily (each command, the executors, the registry client) is
// still evaluated only when used, and the file is one script that cli/bundle-loader.ts runs
// with a V8 code cache (Node 20 has no compile cache for ES modules). Ink and React stay
// outside: the UI has its own ESM bundle (scripts/bundle-ui.mjs), loaded by import().
//
// Then dist/cli/main.js, tsc's output, becomes a loader of the bundle, so `bin`, the
// tests and the benchmarks all run what users run. Running tsc alone writes tsc's main.js back
// (the CLI then runs unbundled, and is never stale); a second postbuild without tsc finds the
// loader and leaves the bundle as it is (nothing under dist/ changed since it was made).
//
// dist/ keeps every module tsc wrote: the tests import them directly.
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const main = `${dist}cli/main.js`;
const outdir = `${dist}bundle`;
const LOADER_MARK = '// stratum: loads the bundle';

if (existsSync(main) && !readFileSync(main, 'utf8').includes(LOADER_MARK)) {
  rmSync(outdir, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: { main },
    outdir,
    outExtension: { '.js': '.cjs' },
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    // Bundled: the packages of the build path (lru-cache; xxhash-wasm, see syncXxhash) and
    // chokidar (ESM only: a CommonJS file could not require it on every Node 20). Outside,
    // required from node_modules at run time: the UI's (loaded by the UI bundle, never by this
    // one), and those whose module identity matters (engine/oci/tar-pax.ts patches
    // tar-stream's own headers.js) or that are CommonJS already.
    external: ['ink', 'react', 'tar-stream', '@balena/dockerignore', 'fzstd'],
    // Chained to tsc's maps, so positions map to the .ts sources.
    sourcemap: 'linked',
    sourcesContent: false,
    logLevel: 'warning',
    plugins: [keepImportMetaUrl(), syncXxhash()],
  });
  writeFileSync(
    main,
    `#!/usr/bin/env node\n${LOADER_MARK} (dist/bundle/main.cjs, made by scripts/postbuild.mjs from tsc's output of cli/main.ts)\n` +
      `import { fileURLToPath } from 'node:url';\nimport { runBundle } from './bundle-loader.js';\nrunBundle(fileURLToPath(new URL('../bundle/main.cjs', import.meta.url)), process.argv[2]);\n`,
  );
  rmSync(`${main}.map`, { force: true });
}
if (existsSync(main)) chmodSync(main, 0o755);

/**
 * A module's `import.meta.url` names the module itself: code finds files beside it
 * (`new URL('../../cli/main.js', import.meta.url)`, `createRequire(import.meta.url)`). In a
 * bundle there is no import.meta, so each module's becomes the URL of the file tsc wrote for
 * it, made from its path relative to the bundle's folder by `__stratumFileUrl`, which the
 * loader passes in (cli/bundle-loader.ts; a name no module's own `require` can shadow): the
 * same file as before, wherever dist/ is installed.
 */
function keepImportMetaUrl() {
  return {
    name: 'keep-import-meta-url',
    setup(build) {
      build.onLoad({ filter: /\.js$/ }, (args) => {
        if (!args.path.startsWith(dist)) return undefined;
        let text = readFileSync(args.path, 'utf8');
        if (args.path === `${dist}cache/hash.js`) text = once(text, 'const api = await xxhash();', 'const api = xxhash();', args.path);
        if (!text.includes('import.meta.url') && text === readFileSync(args.path, 'utf8')) return undefined;
        const rel = relative(outdir, args.path).split('\\').join('/');
        text = text.replaceAll('import.meta.url', `__stratumFileUrl(${JSON.stringify(rel)})`);
        return { contents: text, loader: 'js', resolveDir: dirname(args.path) };
      });
    },
  };
}

/**
 * CommonJS has no top-level await, and cache/hash.ts awaits xxhash-wasm's instance. The
 * package compiles its ~1 KB of wasm with `await WebAssembly.instantiate(bytes)`; node also
 * allows the synchronous `new WebAssembly.Instance(new WebAssembly.Module(bytes))`, the same
 * module, so in the bundle the package's init is synchronous and hash.ts calls it without
 * await. Both edits must match exactly once, or the build fails here (a new xxhash-wasm
 * release is then looked at, never bundled half-edited).
 */
function syncXxhash() {
  return {
    name: 'sync-xxhash',
    setup(build) {
      build.onLoad({ filter: /[/\\]xxhash-wasm[/\\]esm[/\\]xxhash-wasm\.js$/ }, (args) => {
        let text = readFileSync(args.path, 'utf8');
        text = once(text, 'async function e(){return function(t){', 'function e(){return function(t){', args.path);
        text = once(text, '((await WebAssembly.instantiate(t)).instance)', '(new WebAssembly.Instance(new WebAssembly.Module(t)))', args.path);
        return { contents: text, loader: 'js' };
      });
    },
  };
}

function once(text, from, to, path) {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`postbuild: expected "${from}" once in ${path}; the bundle's edit of it is out of date`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}
await import('./bundle-ui.mjs');
