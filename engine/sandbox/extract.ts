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
import { kinOf } from '../layer-kin.js';

/** Folder of extracted layers in the store. */
export function layersDir(store: Store): string {
  return store.dir('layers-x', 'v1');
}

const verified = new Map<string, true>();

function markerText(digest: string, n: number): string {
  return `stratum-layer-x v1\n${digest}\n${n}\n`;
}

/** The records that make one layer's tree (shared with the init layer of a run). `linkFrom`
 *  gives, for a file that is the same in an extracted kin layer, that copy's path: the helper
 *  hard-links it (lowerdirs are never written, so two trees may share an inode) and copies
 *  the blob only when the link fails. */
export function entryRecs(store: Store, entries: readonly LayerEntry[], linkFrom?: (e: Extract<LayerEntry, { type: 'file' }>) => string | undefined): Rec[] {
  const recs: Rec[] = [];
  const meta = (e: { uid?: number; gid?: number }) => [e.uid ?? 0, e.gid ?? 0] as const;
  for (const e of entries) {
    switch (e.type) {
      case 'file': {
        const blob = store.blobPath(e.digest);
        const from = linkFrom?.(e);
        if (from !== undefined) {
          recs.push(['F', e.path, e.mode.toString(8), ...meta(e), blob, from]);
          break;
        }
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
export async function buildTree(store: Store, caps: SandboxCaps, dir: string, entries: readonly LayerEntry[], linkFrom?: Parameters<typeof entryRecs>[2]): Promise<void> {
  mkdirSync(dir, { mode: 0o755 });
  await runNs(caps.tools, caps.mapping, [['op', 'extract'], ['dir', dir], ...entryRecs(store, entries, linkFrom)]);
}

/** The directory of `digest` when it is extracted and valid (marker and tree), else undefined. */
function extractedDir(store: Store, base: string, digest: LayerDigest): string | undefined {
  const dir = join(base, digest);
  if (verified.has(dir) && existsSync(dir)) return dir;
  const layer = store.getLayer(digest);
  if (!layer) return undefined;
  let have: string | undefined;
  try {
    have = readFileSync(join(base, `${digest}.ok`), 'utf8');
  } catch {
    return undefined;
  }
  if (have !== markerText(digest, layer.entries.length) || !existsSync(dir)) return undefined;
  verified.set(dir, true);
  return dir;
}

/**
 * For a layer whose earlier version (engine/layer-kin.ts) is extracted: the path of each file
 * that is the same there (path, content, mode, owner; no xattrs), so the new tree links it. A
 * one-file change of a 10k-file COPY then copies one blob, not 10k.
 */
function kinLinks(store: Store, base: string, digest: LayerDigest): ((e: Extract<LayerEntry, { type: 'file' }>) => string | undefined) | undefined {
  const k = kinOf(digest);
  const dir = k ? extractedDir(store, base, k) : undefined;
  const earlier = k && dir ? store.getLayer(k) : undefined;
  if (!earlier || !dir) return undefined;
  const files = new Map<string, Extract<LayerEntry, { type: 'file' }>>();
  for (const e of earlier.entries) if (e.type === 'file' && !e.xattrs) files.set(e.path, e);
  return (e) => {
    const o = files.get(e.path);
    const same = o && !e.xattrs && o.digest === e.digest && o.size === e.size && o.mode === e.mode && (o.uid ?? 0) === (e.uid ?? 0) && (o.gid ?? 0) === (e.gid ?? 0);
    return same ? `${dir}/${e.path}` : undefined;
  };
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
    await buildTree(store, caps, tmp, layer.entries, kinLinks(store, base, digest));
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
