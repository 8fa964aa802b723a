/**
 * Volumes: directories under the store that outlive containers. A named volume is created on
 * first use and, the first time only, filled from the image's content at its mount path, as
 * Docker does; `VOLUME` paths of the image get anonymous volumes (removed by `rm -v`).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { LayerEntry } from '../../cache/layer-types.js';
import type { Store } from '../../cache/store-types.js';
import type { SandboxCaps } from '../sandbox/detect.js';
import { buildTree } from '../sandbox/extract.js';
import { removeInNs } from '../sandbox/ns.js';
import type { UnionView } from '../union-view.js';
import { listContainers, volumesRoot, writeJsonAtomic } from './records.js';

export interface VolumeMeta {
  name: string;
  anonymous: boolean;
  created: string;
}

export const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function volumeDataDir(store: Store, name: string): string {
  return join(volumesRoot(store), name, '_data');
}

export function listVolumes(store: Store): VolumeMeta[] {
  let names: string[] = [];
  try {
    names = readdirSync(volumesRoot(store));
  } catch {
    return [];
  }
  const out: VolumeMeta[] = [];
  for (const n of names) {
    try {
      out.push(JSON.parse(readFileSync(join(volumesRoot(store), n, 'meta.json'), 'utf8')) as VolumeMeta);
    } catch {
      // half-created: ignored
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** The image's entries beneath `target`, relative to it (what a new volume starts with). */
function entriesBelow(view: UnionView, target: string): LayerEntry[] {
  const base = posix.normalize(target).replace(/^\/+|\/+$/g, '');
  const out: LayerEntry[] = [];
  for (const [p, e] of view.entries()) {
    if (!p.startsWith(base + '/')) continue;
    const path = p.slice(base.length + 1);
    if (e.type === 'file') {
      const { link: _link, ...f } = e;
      out.push({ path, ...f });
    } else out.push({ path, ...e } as LayerEntry);
  }
  return out;
}

/** Make sure volume `name` exists; a new one is seeded from the image at `target`. */
export async function ensureVolume(store: Store, caps: SandboxCaps, name: string, anonymous: boolean, view: UnionView, target: string): Promise<string> {
  const dir = join(volumesRoot(store), name);
  const data = join(dir, '_data');
  if (existsSync(join(dir, 'meta.json')) && existsSync(data)) return data;
  mkdirSync(dir, { recursive: true });
  if (existsSync(data)) await removeTree(caps, data);
  const entries = entriesBelow(view, target);
  if (entries.length) await buildTree(store, caps, data, entries);
  else mkdirSync(data, { mode: 0o755 });
  writeJsonAtomic(join(dir, 'meta.json'), { name, anonymous, created: new Date().toISOString() } satisfies VolumeMeta);
  return data;
}

async function removeTree(caps: SandboxCaps, path: string): Promise<void> {
  if (caps.mapping.kind === 'root') rmSync(path, { recursive: true, force: true });
  else await removeInNs(caps.tools, caps.mapping, [path]);
}

/** Names of volumes some container (in any state) mounts. */
export function volumesInUse(store: Store): Map<string, string[]> {
  const used = new Map<string, string[]>();
  for (const c of listContainers(store)) {
    for (const m of c.config.mounts) if (m.type === 'volume') used.set(m.name, [...(used.get(m.name) ?? []), c.name]);
  }
  return used;
}

export async function removeVolume(store: Store, caps: SandboxCaps, name: string): Promise<void> {
  const dir = join(volumesRoot(store), name);
  if (caps.mapping.kind === 'root') rmSync(dir, { recursive: true, force: true });
  else {
    await removeInNs(caps.tools, caps.mapping, [join(dir, '_data')]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}
