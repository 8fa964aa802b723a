/**
 * `stratum history IMAGE`: one row per build step, newest first, as `docker history` shows
 * them: the layer a step made (or none, for ENV/LABEL/CMD and other metadata steps), when,
 * by which instruction, and how many bytes.
 */
import type { HistoryEntry } from '../../cache/store-types.js';
import { EXIT } from '../../engine/errors.js';
import { usageError } from '../usage.js';
import { truncate } from '../ui/format.js';
import { formatAge, formatSize, parseCommand, shortId, table, withStoreErrors, type CommandIo } from './common.js';
import { requireImage } from './inspect.js';

export const HISTORY_USAGE = `Usage: stratum history IMAGE [--no-trunc] [--format json] [--cache-dir DIR]

Show the steps an image was built from, newest first; steps that made no layer show
"<empty>" with size 0.
      --no-trunc      do not shorten layer digests and CREATED BY
      --format json   one JSON object per step and line`;

const CREATED_BY_WIDTH = 45;

export async function historyCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, 'history', { 'no-trunc': { type: 'boolean' }, format: { type: 'string' } });
  if (values.help) return void io.stdout.write(HISTORY_USAGE + '\n'), EXIT.ok;
  if (positionals.length !== 1) throw usageError(`history: expected one IMAGE, got ${positionals.length}`, 'write stratum history NAME[:TAG]');
  if (values.format !== undefined && values.format !== 'json') throw usageError('history: --format takes json');
  return withStoreErrors(() => {
    const { image } = requireImage(values['cache-dir'] as string | undefined, positionals[0]!);
    const rows: HistoryEntry[] = [...image.history].reverse();
    if (values.format === 'json') {
      for (const h of rows) {
        io.stdout.write(
          JSON.stringify({ ID: h.layer ?? null, CreatedAt: h.created, CreatedSince: formatAge(h.created), CreatedBy: h.created_by, Size: h.size ?? 0, EmptyLayer: !!h.empty_layer, Comment: h.comment ?? '' }) + '\n',
        );
      }
      return EXIT.ok;
    }
    const full = !!values['no-trunc'];
    const out = [['LAYER', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT']];
    for (const h of rows) {
      const layer = h.empty_layer || !h.layer ? '<empty>' : full ? h.layer : shortId(h.layer);
      const by = full ? h.created_by : truncate(h.created_by.replace(/\s+/g, ' '), CREATED_BY_WIDTH);
      out.push([layer, formatAge(h.created), by, formatSize(h.size ?? 0), h.comment ?? '']);
    }
    io.stdout.write(table(out) + '\n');
    return EXIT.ok;
  });
}
