/**
 * `import()` of an ES module by URL, for the CLI's one dynamic import of a file outside its
 * bundle: the Ink UI's own bundle (cli/reporters/attach.ts). The CLI's bundle runs as a
 * vm.Script (cli/bundle-loader.ts), where a plain `import()` needs --experimental-vm-modules
 * on Node 20; the loader, an ES module, passes its own in as `__stratumImport`. Run
 * unbundled (tsc's output), this module's own `import()` is used.
 */
declare const __stratumImport: ((url: string) => Promise<unknown>) | undefined;

export const importEsm: (url: string) => Promise<unknown> = typeof __stratumImport === 'function' ? __stratumImport : (url) => import(url);
