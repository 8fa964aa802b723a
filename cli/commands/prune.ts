/**
 * `stratum prune`: free store space. Without flags, only what nothing uses (layers and blobs
 * no key or image reaches, corrupt entries); `--until` also drops keys unused for that long;
 * `--keep-storage` evicts least recently used keys until the store fits.
 *
 * Never removed: the layers of tagged images (the store's roots); what a running build or
 * import names in its lease (cache/leases.ts), and everything written since it began; a
 * locked workspace or cache mount. `--grace` (default 1m) stays as the fallback for writers
 * without a lease: keys used within it keep their layers, and unreferenced entries younger
 * than it are kept (a build writes blobs, then its layer, then its key).
 *
 * Beyond keys, layers and blobs, prune also removes documents whose context or output is
 * gone, the file lists of miss explanations whose key went, imported bases nothing stands
 * on, import staging of dead processes, and workspaces and cache mounts: of contexts that
 * are gone, unused for `--until`, or least recently used under `--keep-storage`.
 */
import { EXIT } from '../../engine/errors.js';
import { usageError } from '../usage.js';
import { formatSize, table, openStore, parseCommand, parseDuration, parseSize, withStoreErrors, type CommandIo } from './common.js';
import { recentlyUsedLayers } from './store-usage.js';

export const PRUNE_USAGE = `Usage: stratum prune [-a|--all] [--dry-run] [--keep-storage SIZE] [--until DURATION] [--grace DURATION] [--format json] [--cache-dir DIR]

Remove build cache nothing uses. Tagged images and their layers, the layers of containers'
images, and what a running build or import uses are never removed (\`stratum rmi\` removes images).
  -a, --all                 remove all build cache, not only what nothing uses (as \`docker builder prune --all\`):
                            every build key, and every workspace and cache mount no build holds
      --dry-run             print what would be removed, with sizes, and remove nothing
      --keep-storage SIZE   evict least recently used build cache until the store is at most SIZE (e.g. 500MB, 2GB, 1GiB)
      --until DURATION      also remove build cache unused for longer than DURATION (e.g. 24h, 7d, 1h30m)
      --grace DURATION      keep what was written or used in the last DURATION (default 1m), for writers without a lease
                            (running builds and imports hold leases: what they use is always kept)
      --format json         print the report as JSON
  -f, --force               accepted for docker's muscle memory (stratum never asks for confirmation)`;

export async function pruneCommand(argv: string[], io: CommandIo, command = 'prune'): Promise<number> {
  const { values, positionals } = parseCommand(argv, command, {
    'keep-storage': { type: 'string' },
    until: { type: 'string' },
    grace: { type: 'string' },
    format: { type: 'string' },
    // docker prune asks for confirmation unless -f; stratum never asks, so -f is accepted and changes nothing.
    force: { type: 'boolean', short: 'f' },
    all: { type: 'boolean', short: 'a' },
    'dry-run': { type: 'boolean' },
  });
  if (values.help) return void io.stdout.write(PRUNE_USAGE + '\n'), EXIT.ok;
  if (positionals.length) throw usageError(`${command}: unexpected argument "${positionals[0]}"`);
  if (values.format !== undefined && values.format !== 'json') throw usageError(`${command}: --format takes json`);
  const keepStorage = values['keep-storage'] !== undefined ? parseSize(values['keep-storage'] as string) : undefined;
  if (values['keep-storage'] !== undefined && keepStorage === undefined) throw usageError(`${command}: --keep-storage takes a size like 500MB, 2GB or 1GiB (got "${values['keep-storage']}")`);
  const parsedUntil = values.until !== undefined ? parseDuration(values.until as string) : undefined;
  if (values.until !== undefined && parsedUntil === undefined) throw usageError(`${command}: --until takes a duration like 24h, 7d or 1h30m (got "${values.until}")`);
  // docker builder prune: without --all only unused cache goes; --all takes the rest too,
  // still limited by --until when given. Images are not build cache: --all keeps them.
  const until = parsedUntil ?? (values.all ? 0 : undefined);
  const dryRun = values['dry-run'] === true;
  const grace = values.grace !== undefined ? parseDuration(values.grace as string) : 60_000;
  if (grace === undefined) throw usageError(`${command}: --grace takes a duration like 0s, 30s or 5m (got "${values.grace}")`);
  return withStoreErrors(async () => {
    const store = openStore(values['cache-dir'] as string | undefined);
    // Containers stand on their image's chain even after `rmi`: those layers are roots too.
    const roots = recentlyUsedLayers(store, grace);
    for (const l of (await import('../../engine/containers/records.js')).containerLayers(store)) roots.add(l);
    const report = store.prune({
      roots,
      graceMs: grace,
      ...(keepStorage !== undefined ? { keepStorage } : {}),
      ...(until !== undefined ? { until } : {}),
      dryRun,
    });
    if (values.format === 'json') {
      io.stdout.write(JSON.stringify(report, null, 2) + '\n');
      return EXIT.ok;
    }
    if (dryRun) {
      const rows = [['TYPE', 'NAME', 'SIZE'], ...report.items.map((i) => [i.kind, i.name, formatSize(i.bytes)])];
      const total = report.items.reduce((n, i) => n + i.bytes, 0);
      io.stdout.write(
        (report.items.length ? table(rows) + '\n' : '') +
          `Would delete ${report.items.length} item${report.items.length === 1 ? '' : 's'}, ${formatSize(total)} (dry run: nothing was removed)\n`,
      );
      return EXIT.ok;
    }
    const extra = report.removedDirs || report.removedDocs || report.leases;
    io.stdout.write(
      `Deleted ${report.removedKeys} build keys, ${report.removedLayers} layers, ${report.removedBlobs} blobs\n` +
        (report.removedLegacy.length ? `Deleted old store layout folders: ${report.removedLegacy.join(', ')}\n` : '') +
        `Total reclaimed space: ${formatSize(report.freedBytes + report.freedDirBytes)} (store ${formatSize(report.sizeBefore)} → ${formatSize(report.sizeAfter)})\n` +
        (extra
          ? `Also deleted ${report.removedDirs} workspace and cache-mount directories, ${report.removedDocs} documents` +
            (report.leases ? `; kept what ${report.leases} running build${report.leases === 1 ? '' : 's'} use${report.leases === 1 ? 's' : ''}` : '') +
            '\n'
          : ''),
    );
    return EXIT.ok;
  });
}
