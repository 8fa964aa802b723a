/** `stratum volume ls | rm NAME... | prune [-a]`. */
import { EXIT, UserError } from '../../engine/errors.js';
import { usageError } from '../usage.js';
import { parseCommand, withStoreErrors, table, type CommandIo } from './common.js';
import { containerEnv } from './container-common.js';

export const VOLUME_USAGE = `Usage: stratum volume ls [-q]
       stratum volume rm [-f] NAME...
       stratum volume prune [-a]

Named volumes are created by \`run -v NAME:/path\`, seeded from the image the first time, and
kept across \`rm\`. prune removes unused anonymous volumes (-a: every unused volume).`;

export async function volumeCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals: all } = parseCommand(argv, 'volume', { quiet: { type: 'boolean', short: 'q' }, force: { type: 'boolean', short: 'f' }, all: { type: 'boolean', short: 'a' } });
  const [sub, ...positionals] = all;
  if (values.help || sub === undefined) return void io.stdout.write(VOLUME_USAGE + '\n'), sub === undefined ? EXIT.usage : EXIT.ok;
  return withStoreErrors(async () => {
    const { store, caps } = await containerEnv(values['cache-dir'] as string | undefined);
    const v = await import('../../engine/containers/volumes.js');
    const used = v.volumesInUse(store);
    switch (sub) {
      case 'ls': {
        const vols = v.listVolumes(store);
        if (values.quiet) for (const x of vols) io.stdout.write(x.name + '\n');
        else io.stdout.write(table([['DRIVER', 'VOLUME NAME', 'USED BY'], ...vols.map((x) => ['local', x.name, (used.get(x.name) ?? []).join(',') || '-'])]) + '\n');
        return EXIT.ok;
      }
      case 'rm': {
        if (!positionals.length) throw usageError('volume rm: expected NAME...');
        const known = new Set(v.listVolumes(store).map((x) => x.name));
        for (const n of positionals) {
          if (!known.has(n)) throw new UserError('CONTAINER', `no such volume: ${n}`, 'see `stratum volume ls`', EXIT.usage);
          if (used.has(n) && !values.force) throw new UserError('CONTAINER', `volume ${n} is in use by container ${used.get(n)!.join(', ')}`, 'remove the container first (stratum rm)', EXIT.usage);
          await v.removeVolume(store, caps, n);
          io.stdout.write(n + '\n');
        }
        return EXIT.ok;
      }
      case 'prune': {
        let n = 0;
        for (const x of v.listVolumes(store)) {
          if (used.has(x.name) || (!x.anonymous && !values.all)) continue;
          await v.removeVolume(store, caps, x.name);
          io.stdout.write(`Deleted ${x.name}\n`);
          n++;
        }
        io.stdout.write(`Deleted ${n} volume${n === 1 ? '' : 's'}\n`);
        return EXIT.ok;
      }
      default:
        throw usageError(`volume: unknown subcommand "${sub}"`, 'ls, rm or prune');
    }
  });
}
