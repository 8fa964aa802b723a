/** `stratum logs [-f] [--tail N] CONTAINER`: the container's output (stdout and stderr, merged). */
import { closeSync, openSync, readSync, statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXIT } from '../../engine/errors.js';
import { usageError } from '../usage.js';
import { openStore, parseCommand, type CommandIo } from './common.js';
import { mustFind } from './container-common.js';

export const LOGS_USAGE = `Usage: stratum logs [-f] [--tail N] CONTAINER

Print a container's output. -f follows it until the container exits.`;

export async function logsCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, 'logs', { follow: { type: 'boolean', short: 'f' }, tail: { type: 'string', short: 'n' } });
  if (values.help) return void io.stdout.write(LOGS_USAGE + '\n'), EXIT.ok;
  if (positionals.length !== 1) throw usageError('logs: expected one CONTAINER');
  const store = openStore(values['cache-dir'] as string | undefined);
  const rec = await mustFind(store, positionals[0]!);
  const { containerDir, loadContainer } = await import('../../engine/containers/records.js');
  const file = join(containerDir(store, rec.id), 'log');
  let raw = Buffer.alloc(0);
  try {
    raw = readFileSync(file);
  } catch {
    // no output yet
  }
  let text = raw.toString('utf8');
  const tail = values.tail !== undefined && values.tail !== 'all' ? Number(values.tail) : undefined;
  if (tail !== undefined) {
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    text = lines.slice(Math.max(0, lines.length - tail)).map((l) => l + '\n').join('');
  }
  io.stdout.write(text);
  if (!values.follow) return EXIT.ok;
  let pos = raw.length;
  const buf = Buffer.alloc(65536);
  for (;;) {
    const size = statSync(file, { throwIfNoEntry: false })?.size ?? 0;
    if (size > pos) {
      const fd = openSync(file, 'r');
      let n: number;
      while ((n = readSync(fd, buf, 0, buf.length, pos)) > 0) {
        io.stdout.write(Buffer.from(buf.subarray(0, n)));
        pos += n;
      }
      closeSync(fd);
    } else if (loadContainer(store, rec.id)?.state.status !== 'running') return EXIT.ok;
    await sleep(100);
  }
}
