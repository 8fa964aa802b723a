// Bundles the terminal UI (dist/cli/ui/render.js with Ink, React, yoga and their ~60 packages)
// into one file, dist/cli/ui/render.bundle.js, which cli/reporters/attach.ts loads when it is
// there. Node 20 spends most of Ink's load time resolving and compiling modules one by one:
// measured on the project's 2-core machine, importing render.js took 366–598 ms, the bundle
// 79–112 ms (bench/tty-first-frame.ts measures it in the CLI). Without esbuild (an install
// without dev dependencies) the bundle is skipped and the CLI loads the modules as they are.
import { existsSync, renameSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/cli/ui/', import.meta.url));
const entry = dist + 'render.js';
const out = dist + 'render.bundle.js';


// Ink imports react-devtools-core only when DEV=true, through a dynamic import; bundled, that
// import would become a static one of a package that is not installed.
const noDevtools = {
  name: 'no-devtools',
  setup(b) {
    b.onResolve({ filter: /[/\\]devtools\.js$/ }, () => ({ path: 'devtools', namespace: 'stub' }));
    b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({ contents: 'throw new Error("stratum bundles Ink without its devtools");', loader: 'js' }));
  },
};

async function bundle(esbuild) {
const tmp = `${out}.${process.pid}.tmp`;
try {
  await esbuild.build({
    entryPoints: [entry],
    outfile: tmp,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // React's production build: no development checks or warnings in a user's terminal.
    define: { 'process.env.NODE_ENV': '"production"' },
    // Some of Ink's dependencies are CommonJS and call require() for node's built-ins.
    banner: { js: "import { createRequire as __stratumRequire } from 'node:module'; const require = __stratumRequire(import.meta.url);" },
    plugins: [noDevtools],
    legalComments: 'none',
    logLevel: 'warning',
  });
  renameSync(tmp, out);
} finally {
  rmSync(tmp, { force: true });
}
}

const esbuild = await import('esbuild').catch(() => undefined);
if (!esbuild) console.log('bundle-ui: esbuild is not installed; the UI loads unbundled');
else if (existsSync(entry)) await bundle(esbuild);
