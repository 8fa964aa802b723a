/**
 * `stratum images`: the tagged images in the store, newest first, as `docker images` lists
 * them. IMAGE ID is the chain digest (the content of the filesystem); SIZE adds up the
 * layers' file bytes.
 */
import type { ImageRecord, Store } from '../../cache/store-types.js';
import { EXIT } from '../../engine/errors.js';
import { usageError } from '../usage.js';
import { compileTemplate } from '../go-template.js';

/** docker's reference filter: `*` matches within one path part (not `/`), anchored. */
function globRe(pattern: string): RegExp {
  return new RegExp('^' + pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*') + '$');
}
import { formatAge, formatSize, openStore, parseCommand, repoAndTag, shortId, table, withStoreErrors, type CommandIo } from './common.js';

export const IMAGES_USAGE = `Usage: stratum images [-q] [--filter reference=PATTERN] [--format json|TEMPLATE] [--cache-dir DIR]

List the tagged images in the store (newest first).
  -q, --quiet              only the image IDs (each once)
      --filter reference=P names matching P (* within a part, e.g. 'app:*', 'team/*'); repeatable
      --format json        one JSON object per image and line
      --format TEMPLATE    e.g. '{{.Repository}}:{{.Tag}}' (fields: Repository Tag ID Name CreatedAt CreatedSince Size)`;

/** Bytes of an image's layers (file contents, as `docker images` adds up layer sizes). */
export function imageSize(store: Store, image: ImageRecord): number {
  let n = 0;
  for (const d of image.layers) n += store.getLayer(d)?.size ?? 0;
  return n;
}

export async function imagesCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, 'images', { format: { type: 'string' }, quiet: { type: 'boolean', short: 'q' }, filter: { type: 'string', multiple: true } });
  if (values.help) return void io.stdout.write(IMAGES_USAGE + '\n'), EXIT.ok;
  if (positionals.length) throw usageError(`images: unexpected argument "${positionals[0]}"`, 'stratum images lists every image; `stratum inspect NAME` shows one');
  const refs = ((values.filter as string[] | undefined) ?? []).map((f) => {
    const m = /^reference=(.+)$/.exec(f);
    if (!m) throw usageError(`images: --filter "${f}" is not supported`, 'supported: --filter reference=PATTERN');
    return globRe(m[1]!);
  });
  const render = typeof values.format === 'string' && values.format !== 'json' ? compileTemplate(values.format, 'images') : undefined;
  return withStoreErrors(() => {
    const store = openStore(values['cache-dir'] as string | undefined);
    const images = store.listImages().filter((img) => refs.every((re) => re.test(img.name) || re.test(repoAndTag(img.name).join(':')))).sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : a.name < b.name ? -1 : 1));
    if (values.quiet) {
      const ids = [...new Set(images.map((img) => shortId(img.chain)))];
      if (ids.length) io.stdout.write(ids.join('\n') + '\n');
      return EXIT.ok;
    }
    if (values.format === 'json' || render) {
      for (const img of images) {
        const [repo, tag] = repoAndTag(img.name);
        const row = { Repository: repo, Tag: tag, Name: img.name, ID: img.chain, CreatedAt: img.created, CreatedSince: formatAge(img.created), Size: imageSize(store, img), Layers: img.layers.length };
        io.stdout.write((render ? render({ ...row, ID: shortId(img.chain), Size: formatSize(row.Size) }) : JSON.stringify(row)) + '\n');
      }
      return EXIT.ok;
    }
    const rows = [['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE']];
    for (const img of images) rows.push([...repoAndTag(img.name), shortId(img.chain), formatAge(img.created), formatSize(imageSize(store, img))]);
    io.stdout.write(table(rows) + '\n');
    return EXIT.ok;
  });
}
