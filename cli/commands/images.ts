/**
 * `stratum images`: the tagged images in the store, newest first, as `docker images` lists
 * them. IMAGE ID is the chain digest (the content of the filesystem); SIZE adds up the
 * layers' file bytes.
 */
import type { ImageRecord, Store } from '../../cache/store-types.js';
import { EXIT } from '../../engine/errors.js';
import { usageError } from '../usage.js';
import { formatAge, formatSize, openStore, parseCommand, repoAndTag, shortId, table, withStoreErrors, type CommandIo } from './common.js';

export const IMAGES_USAGE = `Usage: stratum images [--format json] [--cache-dir DIR]

List the tagged images in the store (newest first).
      --format json   one JSON object per image and line`;

/** Bytes of an image's layers (file contents, as `docker images` adds up layer sizes). */
export function imageSize(store: Store, image: ImageRecord): number {
  let n = 0;
  for (const d of image.layers) n += store.getLayer(d)?.size ?? 0;
  return n;
}

export async function imagesCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, 'images', { format: { type: 'string' } });
  if (values.help) return void io.stdout.write(IMAGES_USAGE + '\n'), EXIT.ok;
  if (positionals.length) throw usageError(`images: unexpected argument "${positionals[0]}"`, 'stratum images lists every image; `stratum inspect NAME` shows one');
  if (values.format !== undefined && values.format !== 'json') throw usageError('images: --format takes json');
  return withStoreErrors(() => {
    const store = openStore(values['cache-dir'] as string | undefined);
    const images = store.listImages().sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : a.name < b.name ? -1 : 1));
    if (values.format === 'json') {
      for (const img of images) {
        const [repo, tag] = repoAndTag(img.name);
        io.stdout.write(JSON.stringify({ Repository: repo, Tag: tag, Name: img.name, ID: img.chain, CreatedAt: img.created, CreatedSince: formatAge(img.created), Size: imageSize(store, img), Layers: img.layers.length }) + '\n');
      }
      return EXIT.ok;
    }
    const rows = [['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE']];
    for (const img of images) rows.push([...repoAndTag(img.name), shortId(img.chain), formatAge(img.created), formatSize(imageSize(store, img))]);
    io.stdout.write(table(rows) + '\n');
    return EXIT.ok;
  });
}
