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
    plugins: [keepImportMetaUrl()],
  });
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
        const text = readFileSync(args.path, 'utf8');
        if (!text.includes('import.meta.url')) return undefined;
        const rel = relative(outdir, args.path).split('\\').join('/');
        return { contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`), loader: 'js', resolveDir: dirname(args.path) };
      });
    },
  };
}
await import('./bundle-ui.mjs');
