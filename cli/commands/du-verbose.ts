/**
 * `stratum du -v`: every entry of the store, as `docker system df -v` and
 * `docker buildx du --verbose` list them: images (with what they share), containers, volumes,
 * the build cache (one row per step key: its layer's size, when it was built and last used,
 * whether its layer is shared, the step) and the layers (who uses each).
 *
 * Read-only: key files are read directly, never through getKey, which would touch them
 * (their mtime is their last use, what `prune --until` and `--keep-storage` go by).
 */
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { asLayerDigest, asStepKey } from '../../cache/digest.js';
import { decodeKey } from '../../cache/key-file.js';
import { KEYS, LAYERS } from '../../cache/store-layout.js';
import { walkFanned } from '../../cache/store-walk.js';
import { treeBytes } from '../../cache/owned-dirs.js';
import type { Store } from '../../cache/store-types.js';
import { containerDir, listContainers, volumesRoot } from '../../engine/containers/records.js';
import { listVolumes, volumesInUse } from '../../engine/containers/volumes.js';
import { formatAge, formatSize, repoAndTag, shortId, table } from './common.js';

export interface VerboseUsage {
  images: { name: string; id: string; created: string; size: number; sharedSize: number; uniqueSize: number; containers: number }[];
  containers: { id: string; name: string; image: string; command: string; size: number; created: string; status: string }[];
  volumes: { name: string; links: number; size: number; anonymous: boolean }[];
  /** One row per step key. `shared`: its layer is also used by another key or an image. */
  buildCache: { key: string; op: string; step: string; layer: string | null; size: number; created: string; lastUsed: string; shared: boolean }[];
  /** One row per layer manifest, with the steps and images that use it. */
  layers: { digest: string; size: number; files: number; lastUsed: string; shared: boolean; steps: number; images: string[] }[];
}

const iso = (ms: number) => new Date(ms).toISOString();

export function verboseUsage(store: Store): VerboseUsage {
  const images = store.listImages();
  const containers = listContainers(store);
  const layerUsers = new Map<string, { keys: number; images: Set<string>; lastUse: number }>();
  const users = (d: string) => {
    let u = layerUsers.get(d);
    if (!u) layerUsers.set(d, (u = { keys: 0, images: new Set(), lastUse: 0 }));
    return u;
  };
  for (const img of images) for (const l of img.layers) users(l).images.add(img.name);
  for (const c of containers) for (const l of c.image.layers) users(l).images.add(`container ${c.name}`);

  const keyRows: (VerboseUsage['buildCache'][number] & { mtime: number })[] = [];
  for (const f of walkFanned(join(store.root, KEYS), '.json')) {
    if (f.digest === undefined) continue;
    let text: string | undefined;
    try {
      text = readFileSync(f.path, 'utf8');
    } catch {
      continue; // removed meanwhile
    }
    const rec = decodeKey(text, asStepKey(f.digest));
    if (!rec) continue;
    const r = (rec.record ?? {}) as { op?: unknown; instruction?: unknown };
    const op = typeof r.op === 'string' ? r.op : '?';
    const step = typeof r.instruction === 'string' ? `${op} ${r.instruction}` : op;
    const size = rec.layer ? (store.getLayer(rec.layer)?.size ?? 0) : 0;
    if (rec.layer) {
      const u = users(rec.layer);
      u.keys++;
      u.lastUse = Math.max(u.lastUse, f.stat.mtimeMs);
    }
    keyRows.push({ key: rec.key, op, step, layer: rec.layer, size, created: iso(rec.created), lastUsed: iso(f.stat.mtimeMs), shared: false, mtime: f.stat.mtimeMs });
  }
  const shared = (d: string | null) => {
    if (d === null) return false;
    const u = layerUsers.get(d);
    return u !== undefined && u.keys + u.images.size > 1;
  };
  for (const k of keyRows) k.shared = shared(k.layer);

  const layers: VerboseUsage['layers'] = [];
  for (const f of walkFanned(join(store.root, LAYERS), '.json')) {
    if (f.digest === undefined) continue;
    const layer = store.getLayer(asLayerDigest(f.digest));
    if (!layer) continue;
    const u = layerUsers.get(f.digest);
    layers.push({
      digest: f.digest,
      size: layer.size,
      files: layer.entries.filter((e) => e.type === 'file').length,
      lastUsed: iso(Math.max(u?.lastUse ?? 0, f.stat.mtimeMs)),
      shared: shared(f.digest),
      steps: u?.keys ?? 0,
      images: [...(u?.images ?? [])].sort(),
    });
  }

  const imageRows: VerboseUsage['images'] = images.map((img) => {
    const mine = [...new Set(img.layers)];
    const size = mine.reduce((n, d) => n + (store.getLayer(d)?.size ?? 0), 0);
    const sharedSize = mine.filter((d) => (layerUsers.get(d)?.images.size ?? 0) > 1).reduce((n, d) => n + (store.getLayer(d)?.size ?? 0), 0);
    return { name: img.name, id: img.chain, created: img.created, size, sharedSize, uniqueSize: size - sharedSize, containers: containers.filter((c) => c.image.chain === img.chain).length };
  });

  const containerRows: VerboseUsage['containers'] = containers.map((c) => ({
    id: c.id,
    name: c.name,
    image: c.image.name,
    command: c.config.argv.join(' '),
    // The writable layer (the overlay's upperdir).
    size: treeBytes(join(containerDir(store, c.id), 'u')),
    created: c.created,
    status: c.state.status,
  }));

  const inUse = volumesInUse(store);
  const volumes: VerboseUsage['volumes'] = listVolumes(store).map((v) => ({ name: v.name, anonymous: v.anonymous, links: inUse.get(v.name)?.length ?? 0, size: treeBytes(join(volumesRoot(store), v.name, '_data')) }));

  keyRows.sort((a, b) => b.mtime - a.mtime);
  layers.sort((a, b) => (a.lastUsed < b.lastUsed ? 1 : a.lastUsed > b.lastUsed ? -1 : 0));
  return { images: imageRows, containers: containerRows, volumes, buildCache: keyRows.map(({ mtime: _m, ...k }) => k), layers };
}

const ago = (isoText: string) => formatAge(isoText);
const cut = (s: string, n: number) => (s.length > n ? s.slice(0, n - 1) + '…' : s);

/** The tables, as `docker system df -v` prints them (a title, then the rows). */
export function formatVerbose(u: VerboseUsage): string {
  const sections: string[] = [];
  sections.push(
    'Images space usage:\n\n' +
      table([
        ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE', 'SHARED SIZE', 'UNIQUE SIZE', 'CONTAINERS'],
        ...u.images.map((i) => {
          const [repo, tag] = repoAndTag(i.name);
          return [repo, tag, shortId(i.id), ago(i.created), formatSize(i.size), formatSize(i.sharedSize), formatSize(i.uniqueSize), String(i.containers)];
        }),
      ]),
  );
  sections.push(
    'Containers space usage:\n\n' +
      table([
        ['CONTAINER ID', 'IMAGE', 'COMMAND', 'SIZE', 'CREATED', 'STATUS', 'NAMES'],
        ...u.containers.map((c) => [shortId(c.id), c.image, JSON.stringify(cut(c.command, 20)), formatSize(c.size), ago(c.created), c.status, c.name]),
      ]),
  );
  sections.push('Local Volumes space usage:\n\n' + table([['VOLUME NAME', 'LINKS', 'SIZE'], ...u.volumes.map((v) => [v.name, String(v.links), formatSize(v.size)])]));
  sections.push(
    'Build cache usage:\n\n' +
      table([
        ['CACHE ID', 'CACHE TYPE', 'SIZE', 'CREATED', 'LAST USED', 'SHARED', 'STEP'],
        ...u.buildCache.map((k) => [shortId(k.key), k.op, formatSize(k.size), ago(k.created), ago(k.lastUsed), k.shared ? 'true' : 'false', cut(k.step, 48)]),
      ]),
  );
  sections.push(
    'Layers:\n\n' +
      table([
        ['LAYER ID', 'SIZE', 'FILES', 'LAST USED', 'SHARED', 'USED BY'],
        ...u.layers.map((l) => {
          const by = [...(l.steps ? [`${l.steps} step${l.steps === 1 ? '' : 's'}`] : []), ...l.images];
          return [shortId(l.digest), formatSize(l.size), String(l.files), ago(l.lastUsed), l.shared ? 'true' : 'false', by.length ? by.join(', ') : 'nothing (prune removes it)'];
        }),
      ]),
  );
  return sections.join('\n\n') + '\n';
}
