/** `stratum ps [-a] [-q] [--format json]`: containers, docker-style. */
import { EXIT } from '../../engine/errors.js';
import { formatAge, openStore, parseCommand, shortId, table, type CommandIo } from './common.js';

export const PS_USAGE = `Usage: stratum ps [-a] [-q] [--format json] [--cache-dir DIR]

List running containers (-a: all). PORTS are documentation: containers share the host's
network, so a server listens on the host directly.`;

export async function psCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseCommand(argv, 'ps', { all: { type: 'boolean', short: 'a' }, quiet: { type: 'boolean', short: 'q' }, format: { type: 'string' } });
  if (values.help) return void io.stdout.write(PS_USAGE + '\n'), EXIT.ok;
  const store = openStore(values['cache-dir'] as string | undefined);
  const { listContainers } = await import('../../engine/containers/records.js');
  const all = listContainers(store).filter((c) => values.all || c.state.status === 'running');
  if (values.format === 'json') {
    for (const c of all) io.stdout.write(JSON.stringify(c) + '\n');
    return EXIT.ok;
  }
  if (values.quiet) {
    for (const c of all) io.stdout.write(shortId(c.id) + '\n');
    return EXIT.ok;
  }
  const rows = [['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES']];
  for (const c of all) {
    const cmd = JSON.stringify(c.config.argv.join(' ').slice(0, 20));
    const s = c.state;
    const status = s.restarting ? `Restarting (${s.exitCode ?? '?'}) ${formatAge(s.finishedAt ?? c.created)}` : s.status === 'running' ? `Up ${formatAge(s.startedAt ?? c.created).replace(/ ago$/, '').replace(/^Less than a second$/, 'less than a second')}${s.detached ? '' : ' (foreground)'}` : s.status === 'exited' ? `Exited (${s.exitCode ?? '?'}) ${formatAge(s.finishedAt ?? c.created)}` : 'Created';
    const ports = c.config.network === 'none' ? 'none (--network=none)' : c.config.ports.length ? `${c.config.ports.join(', ')} (host network: not mapped)` : 'host network';
    rows.push([shortId(c.id), c.image.name, cmd, formatAge(c.created), status, ports, c.name]);
  }
  io.stdout.write(table(rows) + '\n');
  return EXIT.ok;
}
