/**
 * `stratum inspect IMAGE…`: what the store knows about images, as JSON (an array, like
 * `docker inspect`): name, id (chain digest), created, size, the config in OCI's names,
 * the layers and the history.
 */
import type { ImageRecord, LocalStore } from '../../cache/store-types.js';
import { EXIT, UserError } from '../../engine/errors.js';
import { usageError } from '../usage.js';
import { compileTemplate } from '../go-template.js';
import { imageSize } from './images.js';
import { openStore, parseCommand, withStoreErrors, type CommandIo } from './common.js';

export const INSPECT_USAGE = `Usage: stratum inspect IMAGE... [-f TEMPLATE] [--cache-dir DIR]

Print images as JSON: config (Env, Cmd, Entrypoint, WorkingDir, User, Labels…), layers and history.
  -f, --format TEMPLATE   one line per image, e.g. '{{.Config.Cmd}}', '{{json .Config.Env}}', '{{.Id}}'`;

/** An image by name, or a usage error that says how to find the right name. */
export function requireImage(cacheDir: string | undefined, name: string, store?: LocalStore): { store: LocalStore; image: ImageRecord } {
  const s = store ?? openStore(cacheDir);
  const image = s.getImage(name);
  if (!image) throw new UserError('NO_IMAGE', `no image "${name}" in the store (${s.root})`, '`stratum images` lists the images; build one with `stratum build -t NAME` or import one with `stratum load`', EXIT.usage);
  return { store: s, image };
}

export async function inspectCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, 'inspect', { format: { type: 'string', short: 'f' } });
  if (values.help) return void io.stdout.write(INSPECT_USAGE + '\n'), EXIT.ok;
  if (!positionals.length) throw usageError('inspect: expected at least one IMAGE', 'write stratum inspect NAME[:TAG]');
  return withStoreErrors(() => {
    const store = openStore(values['cache-dir'] as string | undefined);
    const out = positionals.map((name) => {
      const { image } = requireImage(undefined, name, store);
      return {
        Name: image.name,
        Id: image.chain,
        Created: image.created,
        Size: imageSize(store, image),
        Config: image.config,
        RootFS: { Type: 'layers', Layers: image.layers },
        History: image.history,
      };
    });
    if (typeof values.format === 'string') {
      const render = compileTemplate(values.format, 'inspect');
      for (const o of out) io.stdout.write(render(o) + '\n');
      return EXIT.ok;
    }
    io.stdout.write(JSON.stringify(out, null, 2) + '\n');
    return EXIT.ok;
  });
}
