// Makes the CLI entry executable after tsc (npm links `bin` to it), and bundles the terminal UI.
import { chmodSync, existsSync } from 'node:fs';
const bin = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(bin)) chmodSync(bin, 0o755);
await import('./bundle-ui.mjs');
