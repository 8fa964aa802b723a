/**
 * `stratum du`: disk usage of the store, like `docker system df`: images, layers, blobs and
 * build keys with how much of each tagged images use (ACTIVE) and how much a prune could
 * free (RECLAIMABLE: everything no tagged image reaches, `prune --keep-storage 0`).
 */
import { EXIT } from '../../engine/errors.js';
import { usageError } from '../usage.js';
import { formatSize, openStore, parseCommand, table, withStoreErrors, type CommandIo } from './common.js';
import { storeUsage } from './store-usage.js';
import { legacyFolders } from '../../cache/store-legacy.js';

export const DU_USAGE = `Usage: stratum du [-v] [--format json] [--cache-dir DIR]

Show the store's disk usage: images, layers, blobs, build keys, and what \`stratum prune\` can reclaim.
  -v, --verbose       also list every image, container, volume, build key and layer: size, when
                      last used, whether it is shared, and which step or image uses it
      --format json   print the numbers as one JSON object (with -v, the lists too)`;

export async function duCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, 'du', { format: { type: 'string' }, verbose: { type: 'boolean', short: 'v' } });
  if (values.help) return void io.stdout.write(DU_USAGE + '\n'), EXIT.ok;
  if (positionals.length) throw usageError(`du: unexpected argument "${positionals[0]}"`);
  if (values.format !== undefined && values.format !== 'json') throw usageError('du: --format takes json');
  return withStoreErrors(async () => {
    const store = openStore(values['cache-dir'] as string | undefined);
    const u = storeUsage(store);
    const verbose = values.verbose === true ? (await import('./du-verbose.js')) : undefined;
    const v = verbose?.verboseUsage(store);
    if (values.format === 'json') {
      io.stdout.write(JSON.stringify({ root: store.root, ...u, ...(v ? { verbose: v } : {}) }, null, 2) + '\n');
      return EXIT.ok;
    }
    if (verbose && v) io.stdout.write(verbose.formatVerbose(v) + '\n');
    const pct = (part: number, whole: number) => (whole > 0 ? ` (${Math.round((part / whole) * 100)}%)` : '');
    const row = (type: string, t: { count: number; bytes: number; activeCount: number; activeBytes: number }) => [
      type,
      String(t.count),
      String(t.activeCount),
      formatSize(t.bytes),
      formatSize(t.bytes - t.activeBytes) + pct(t.bytes - t.activeBytes, t.bytes),
    ];
    const rows = [
      ['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'],
      ['Images', String(u.images.count), String(u.images.count), formatSize(u.images.bytes), '0 B'],
      row('Layers', u.layers),
      row('Blobs', u.blobs),
      row('Build keys', u.keys),
      ['Total', '', '', formatSize(u.total), formatSize(u.reclaimable) + pct(u.reclaimable, u.total)],
    ];
    io.stdout.write(`${table(rows)}\n\nstore ${store.root}; workspaces, cache mounts and documents: ${formatSize(u.other.bytes)} more (\`stratum prune\` removes those of deleted contexts; \`--all\` every one not in use)\n`);
    const legacy = legacyFolders(store.root);
    if (legacy.length) io.stdout.write(`old store layout folders (not used by this version): ${legacy.join(', ')}; \`stratum prune\` removes them\n`);
    return EXIT.ok;
  });
}
