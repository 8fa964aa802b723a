/**
 * A layer as a directory the kernel can use as an overlayfs lowerdir, extracted once per store:
 * `dirs/layers-x/…/<digest>/` holds the layer's entries with their owners, modes, symlinks,
 * hardlinks, fifos and devices (where the namespace allows mknod), whiteouts as 0/0 character
 * devices and opaque directories with `user.overlay.opaque=y` (the mounts use `userxattr`).
 *
 * Owners need the namespace (a sub-id owner cannot be set, nor its 0700 directory removed,
 * from outside), so the tree is built by the helper inside it: into a temp name, then renamed.
 *
 * Validity: `<digest>.ok` holds the digest and entry count, written before the rename; an
 * extraction is used only when the marker matches and the directory exists. Anything else
 * (a crash between the two, a directory removed by hand, a marker of another format) is
 * removed and rebuilt. A directory damaged inside is not detected here (that would cost a
 * walk per build); `rm -rf` of the layers-x folder is always safe.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { LayerDigest } from '../../cache/digest.js';
import type { LayerEntry } from '../../cache/layer-types.js';
import type { Store } from '../../cache/store-types.js';
import { StoreError } from '../../cache/store-types.js';
import { removeInNs, runNs, type Rec } from './ns.js';
import type { SandboxCaps } from './detect.js';

/** Folder of extracted layers in the store. */
export function layersDir(store: Store): string {
  return store.dir('layers-x', 'v1');
}

const verified = new Map<string, true>();

function markerText(digest: string, n: number): string {
  return `stratum-layer-x v1\n${digest}\n${n}\n`;
}

/** The records that make one layer's tree (shared with the init layer of a run). */
export function entryRecs(store: Store, entries: readonly LayerEntry[]): Rec[] {
  const recs: Rec[] = [];
  const meta = (e: { uid?: number; gid?: number }) => [e.uid ?? 0, e.gid ?? 0] as const;
  for (const e of entries) {
    switch (e.type) {
      case 'file': {
        const blob = store.blobPath(e.digest);
        if (!store.hasBlob(e.digest)) {
          throw new StoreError('EMISSING', `store: blob ${e.digest} of ${e.path} is missing; the layer cannot be extracted`, { digest: e.digest, path: e.path });
        }
        recs.push(['f', e.path, e.mode.toString(8), ...meta(e), blob]);
        break;
      }
      case 'dir':
        recs.push(['d', e.path, e.mode.toString(8), ...meta(e)]);
        break;
      case 'opaque':
        recs.push(['o', e.path, e.mode.toString(8), ...meta(e)]);
        break;
      case 'symlink':
        recs.push(['l', e.path, '777', ...meta(e), e.target]);
        break;
      case 'hardlink':
        recs.push(['h', e.path, e.target]);
        break;
      case 'char':
      case 'block':
        recs.push([e.type === 'char' ? 'c' : 'b', e.path, e.mode.toString(8), ...meta(e), e.major, e.minor]);
        break;
      case 'fifo':
        recs.push(['p', e.path, e.mode.toString(8), ...meta(e)]);
        break;
      case 'whiteout':
        recs.push(['w', e.path]);
        break;
    }
    if ('xattrs' in e && e.xattrs) {
      for (const [name, b64] of Object.entries(e.xattrs)) recs.push(['x', name, Buffer.from(b64, 'base64').toString('hex')]);
    }
  }
  return recs;
}

/** Build a tree from entries at `dir` (which must not exist), inside the namespace. */
export async function buildTree(store: Store, caps: SandboxCaps, dir: string, entries: readonly LayerEntry[]): Promise<void> {
  mkdirSync(dir, { mode: 0o755 });
  await runNs(caps.tools, caps.mapping, [['op', 'extract'], ['dir', dir], ...entryRecs(store, entries)]);
}

/**
 * The directory of the extracted layer `digest`, extracting it first when needed.
 * Concurrent extractions of one layer (two builds) each write their own temp tree; the
 * second rename loses and its tree is removed.
 */
export async function extractLayer(store: Store, caps: SandboxCaps, digest: LayerDigest): Promise<string> {
  const base = layersDir(store);
  const dir = join(base, digest);
  const marker = join(base, `${digest}.ok`);
  if (verified.has(dir) && existsSync(dir)) return dir;
  const layer = store.getLayer(digest);
  if (!layer) throw new StoreError('EMISSING', `store: layer ${digest} is not in the store; it cannot be extracted`, { layer: digest });
  const want = markerText(digest, layer.entries.length);
  let have: string | undefined;
  try {
    have = readFileSync(marker, 'utf8');
  } catch {
    have = undefined;
  }
  if (have === want && existsSync(dir)) {
    verified.set(dir, true);
    return dir;
  }
  if (existsSync(dir)) await removeInNs(caps.tools, caps.mapping, [dir]);
  const tmp = join(base, `.tmp-${digest}-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await buildTree(store, caps, tmp, layer.entries);
    writeFileSync(marker, want);
    try {
      renameSync(tmp, dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    }
  } finally {
    if (existsSync(tmp)) await removeInNs(caps.tools, caps.mapping, [tmp]);
  }
  verified.set(dir, true);
  return dir;
}
