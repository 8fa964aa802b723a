/**
 * `stratum cache verify|prune|du`: store maintenance. `verify` checks every blob, layer and
 * key against its digest and removes what lies (a corrupt entry is a miss, never a wrong
 * result); `prune` and `du` are `stratum prune` and `stratum du`.
 */
import { EXIT } from '../../engine/errors.js';
import { usageError } from '../usage.js';
import { openStore, parseCommand, withStoreErrors, type CommandIo } from './common.js';

export const CACHE_USAGE = `Usage: stratum cache verify [--format json] [--cache-dir DIR]
       stratum cache prune [prune options]   (same as stratum prune)
       stratum cache du    [--format json]   (same as stratum du)

verify: check every blob, layer and key of the store against its digest; remove bad entries
and stale temp files (the next build rebuilds what was removed). Exits 1 when it removed a
bad entry, 0 when the store was sound.`;

export async function cacheCommand(argv: string[], io: CommandIo): Promise<number> {
  // The subcommand may follow options (`stratum cache --cache-dir X verify`).
  const at = subcommandIndex(argv);
  const sub = at >= 0 ? argv[at] : undefined;
  const rest = at >= 0 ? [...argv.slice(0, at), ...argv.slice(at + 1)] : argv;
  if (sub === undefined && argv.some((a) => a === '-h' || a === '--help')) {
    io.stdout.write(CACHE_USAGE + '\n');
    return EXIT.ok;
  }
  switch (sub) {
    case 'verify':
      return verify(rest, io);
    case 'prune':
      return (await import('./prune.js')).pruneCommand(rest, io, 'cache prune');
    case 'du':
      return (await import('./du.js')).duCommand(rest, io);
    case undefined:
      io.stdout.write(CACHE_USAGE + '\n');
      return EXIT.usage;
    default:
      throw usageError(`cache: unknown subcommand "${sub}"`, 'subcommands: verify, prune, du');
  }
}

/** Where the subcommand is: the first word that is neither an option nor an option's value. */
function subcommandIndex(argv: string[]): number {
  const takesValue = new Set(['--cache-dir', '--format', '--keep-storage', '--until', '--grace']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (takesValue.has(a)) i++;
    else if (!a.startsWith('-')) return i;
  }
  return -1;
}

async function verify(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, 'cache verify', { format: { type: 'string' } });
  if (values.help) return void io.stdout.write(CACHE_USAGE + '\n'), EXIT.ok;
  if (positionals.length) throw usageError(`cache verify: unexpected argument "${positionals[0]}"`);
  if (values.format !== undefined && values.format !== 'json') throw usageError('cache verify: --format takes json');
  return withStoreErrors(() => {
    const store = openStore(values['cache-dir'] as string | undefined, true);
    const r = store.verify();
    // Bad entries removed is a finding, not a success: exit 1, so a CI job can flag a damaged
    // cache (stale temp files are housekeeping and do not count).
    const bad = r.badBlobs + r.badLayers + r.badKeys;
    const code = bad > 0 ? EXIT.stepFailed : EXIT.ok;
    if (values.format === 'json') {
      io.stdout.write(JSON.stringify({ root: store.root, ...r }, null, 2) + '\n');
      return code;
    }
    const lines = r.steps.map((s) => `  ${s.name.padEnd(26)} ${s.ms.toFixed(0).padStart(6)} ms`);
    lines.push(
      `checked ${r.checkedBlobs} blobs, ${r.checkedLayers} layers, ${r.checkedKeys} keys in ${store.root}`,
      bad ? `removed ${r.badBlobs} bad blobs, ${r.badLayers} bad layers, ${r.badKeys} bad keys: the next build rebuilds them` : 'no bad entries',
      ...(r.removedTemp ? [`removed ${r.removedTemp} stale temp files`] : []),
    );
    io.stdout.write(lines.join('\n') + '\n');
    return code;
  });
}
