/**
 * A container's writable layer (its upperdir): `diff` lists it as `docker diff` does, and
 * `commit` turns it into a layer of a new image, through the same snapshot a RUN uses.
 */
import { join } from 'node:path';
import type { Store, ImageRecord } from '../../cache/store-types.js';
import type { SandboxCaps } from '../sandbox/detect.js';
import { decodeRecs, runNs } from '../sandbox/ns.js';
import { snapshotUpper } from '../sandbox/snapshot.js';
import { chainDigest } from '../union-view.js';
import { imageView } from './create.js';
import { containerDir, type ContainerRecord } from './records.js';

export interface Change {
  kind: 'A' | 'C' | 'D';
  path: string;
}

/** A (added: not in the image), C (changed, or a directory something beneath changed in),
 *  D (a whiteout; an opaque directory deletes what the image had beneath it). */
export async function containerDiff(store: Store, caps: SandboxCaps, rec: ContainerRecord): Promise<Change[]> {
  const upper = join(containerDir(store, rec.id), 'u');
  // Without `open`: the walk must not change the modes of a live container's files.
  const out = await runNs(caps.tools, caps.mapping, [['op', 'snapshot'], ['dir', upper]]);
  const view = imageView(store, rec.image.layers);
  const changes = new Map<string, Change['kind']>();
  let last: string | undefined;
  for (const r of decodeRecs(out)) {
    if (r[0] === 'e') {
      const [, path, t, , , , , , , major, minor] = r as string[];
      last = path;
      if (t === 'c' && major === '0' && minor === '0') changes.set(path!, 'D');
      else if (t === 's') continue;
      else changes.set(path!, view.has(path!) ? 'C' : 'A');
    } else if (r[0] === 'x' && last && r[1] === 'user.overlay.opaque' && view.get(last)?.type === 'dir') {
      const prefix = last + '/';
      for (const p of view.keys()) if (p.startsWith(prefix) && !changes.has(p)) changes.set(p, 'D');
    }
  }
  // Opaque-deleted paths the upper re-created are listed by the walk; a D beneath an A is noise.
  return [...changes]
    .map(([path, kind]) => ({ kind, path: '/' + path }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The writable layer as a new image `name`: the container's image plus one layer. */
export async function commitContainer(store: Store, caps: SandboxCaps, rec: ContainerRecord, name: string, message?: string): Promise<ImageRecord> {
  const upper = join(containerDir(store, rec.id), 'u');
  const view = imageView(store, rec.image.layers);
  const entries = await snapshotUpper(store, caps, upper, view);
  const layer = store.putLayer(entries);
  const base = store.getImage(rec.image.name);
  const history = base && base.chain === rec.image.chain ? base.history : [];
  const created = new Date().toISOString();
  const image: ImageRecord = {
    name,
    layers: [...rec.image.layers, layer.digest],
    chain: chainDigest(rec.image.chain, layer.digest),
    config: rec.image.config,
    history: [...history, { created, created_by: `stratum commit ${rec.name}`, ...(message ? { comment: message } : {}), layer: layer.digest, size: layer.size }],
    created,
  };
  store.putImage(image);
  return store.getImage(name) ?? image;
}
