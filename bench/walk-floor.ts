/**
 * The floor of a warm no-change build as a process: `node dist/bench/walk-floor.js DIR`
 * starts node and walks DIR with readdir + one plain lstat per entry, nothing else (no
 * imports beyond node:fs). A one-shot build must at least start node and stat every context
 * file to know that nothing changed; this is that, in the same process shape as the CLI.
 *
 * Engine-free.
 */
import { lstatSync, readdirSync } from 'node:fs';

function walk(dir: string): void {
  for (const name of readdirSync(dir)) {
    const p = `${dir}/${name}`;
    if (lstatSync(p).isDirectory()) walk(p);
  }
}

const dir = process.argv[2];
if (dir) walk(dir);
else {
  process.stderr.write('usage: node dist/bench/walk-floor.js DIR\n');
  process.exitCode = 2;
}
