/**
 * The layer a RUN made, read from its upperdir only: the cost is a walk of what the step
 * changed, never of the whole tree.
 *
 * - a 0/0 character device is a whiteout;
 * - a directory with `user.overlay.opaque=y` is an opaque entry — unless no lower layer has a
 *   directory there: the kernel also marks a directory created by a rename (dpkg does this),
 *   and over nothing an opaque directory is just a directory;
 * - a directory present only because something beneath it changed (copy-up) is still a `dir`
 *   entry with its mode and owner, as in any layer;
 * - regular files become blobs; names of one inode become one `file` and `hardlink`s to it;
 * - owners are the ids seen inside the namespace; xattrs kept: `security.capability` and
 *   `user.*` except overlay's own; sockets are dropped.
 *
 * The walk runs in the namespace (sub-id owned 0700 directories are unreadable outside); for
 * a rootless user it also adds read permission to what it walked, so that this process can
 * copy the files into the store. The upper is thrown away right after, so that is harmless.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { LayerEntry } from '../../cache/layer-types.js';
import type { Store } from '../../cache/store-types.js';
import { compareLayerPaths } from '../../cache/layer-digest.js';
import type { ViewReader } from '../union-view.js';
import type { SandboxCaps } from './detect.js';
import { decodeRecs, runNs, type Rec } from './ns.js';

interface Raw {
  path: string;
  t: string;
  mode: number;
  uid: number;
  gid: number;
  ino: string;
  nlink: number;
  major: number;
  minor: number;
  target: string;
  xattrs: [string, string][];
}

export interface SnapshotOptions {
  /** Paths (and their subtrees) to leave out. */
  skip?: ReadonlySet<string>;
  /** The records the RUN's helper left, when it did. */
  made?: UpperRecords;
}

/** The upper's records, sorted by path (parents first), as the helper read them in the
 *  namespace; for a rootless user it also made them readable here. */
export async function readUpper(caps: SandboxCaps, upper: string, made?: UpperRecords): Promise<Raw[]> {
  const kept = made?.take();
  if (kept) return parseUpper(kept);
  return parseUpper(await runNs(caps.tools, caps.mapping, [['op', 'snapshot'], ['dir', upper], ...(caps.mapping.kind === 'root' ? [] : [['open'] as ['open']])]));
}

/**
 * The upper's records as the RUN's own helper left them (ns-helper.pl.ts `snapto`): after a
 * command that succeeded it walks the upper before it exits, so a snapshot needs no second
 * helper (a perl start and a namespace: ~20–30 ms a RUN). `rec` goes into the RUN's spec;
 * `take()` returns the file's bytes once, or undefined when there is none (the command
 * failed, the walk did not finish, an earlier helper): then a helper reads the upper.
 */
export class UpperRecords {
  readonly #file: string;
  constructor(
    readonly runDir: string,
    readonly upperName: string,
    private readonly open: boolean,
  ) {
    this.#file = join(runDir, 'upper.recs');
  }

  /** The spec record; a file left by an earlier exec is removed first (it would describe an
   *  older upper). */
  rec(): Rec {
    this.clear();
    return ['snapto', this.runDir, this.upperName, 'upper.recs', ...(this.open ? ['open'] : [])];
  }

  /** No records for the next exec (they would describe an older upper). */
  clear(): undefined {
    rmSync(this.#file, { force: true });
    return undefined;
  }

  take(): Buffer | undefined {
    try {
      const buf = readFileSync(this.#file);
      rmSync(this.#file, { force: true });
      return buf;
    } catch {
      return undefined;
    }
  }
}

function parseUpper(out: Buffer): Raw[] {
  const raws: Raw[] = [];
  let last: Raw | undefined;
  for (const r of decodeRecs(out)) {
    if (r[0] === 'e') {
      const [, path, t, mode, uid, gid, , ino, nlink, major, minor, target] = r;
      last = { path: path!, t: t!, mode: parseInt(mode!, 8), uid: Number(uid), gid: Number(gid), ino: ino!, nlink: Number(nlink), major: Number(major), minor: Number(minor), target: target ?? '', xattrs: [] };
      raws.push(last);
    } else if (r[0] === 'x' && last) last.xattrs.push([r[1]!, r[2]!]);
  }
  return raws.sort((a, b) => compareLayerPaths(a.path, b.path));
}

/** A 0/0 character device: overlayfs's whiteout. */
function isWhiteout(r: Raw): boolean {
  return r.t === 'c' && r.major === 0 && r.minor === 0;
}

/** Marked opaque; an entry only where a lower dir is there to hide (see the file's comment). */
function isOpaque(r: Raw, lower: ViewReader): boolean {
  return r.t === 'd' && r.xattrs.some(([name, hex]) => name === 'user.overlay.opaque' && Buffer.from(hex, 'hex').toString() === 'y') && lower.get(r.path)?.type === 'dir';
}

/** What a path of the upper does to the tree below it, for a caller that applies the upper
 *  to that tree itself (host-tools over its workspace: engine/workspace.ts applyUpper). */
export interface UpperChange {
  path: string;
  /** whiteout: the path and its subtree are gone; opaque: a dir that hides the lower's subtree;
   *  dir: a dir over the lower's (or a new one); other: a file, symlink or node replacing
   *  whatever was there. */
  kind: 'whiteout' | 'opaque' | 'dir' | 'other';
  mode: number;
  /** A regular file: `mode` is its own, though the helper may have opened it up for reading. */
  file: boolean;
  /** More than one name of one inode in the upper. */
  linked: boolean;
}

/** The upper's changes relative to `lower`, classified exactly as snapshotUpper classifies
 *  whiteouts and opaque dirs, sorted by path. */
export async function upperChanges(caps: SandboxCaps, upper: string, lower: ViewReader, made?: UpperRecords): Promise<UpperChange[]> {
  // The helper opens each file up after printing it: a later name of the same inode shows the
  // opened mode, so every name takes its first name's.
  const firstMode = new Map<string, number>();
  return (await readUpper(caps, upper, made)).map((r) => ({
    path: r.path,
    kind: isWhiteout(r) ? 'whiteout' : isOpaque(r, lower) ? 'opaque' : r.t === 'd' ? 'dir' : 'other',
    mode: r.t === 'f' && r.nlink > 1 ? (firstMode.get(r.ino) ?? (firstMode.set(r.ino, r.mode), r.mode)) : r.mode,
    file: r.t === 'f',
    linked: r.t === 'f' && r.nlink > 1,
  }));
}

export async function snapshotUpper(store: Store, caps: SandboxCaps, upper: string, lower: ViewReader, opts: SnapshotOptions = {}): Promise<LayerEntry[]> {
  const raws = await readUpper(caps, upper, opts.made);
  const skip = opts.skip ?? new Set<string>();
  const skipped = (p: string) => {
    for (let i = p.length; i > 0; i = p.lastIndexOf('/', i - 1)) if (skip.has(p.slice(0, i))) return true;
    return false;
  };
  const firstOfInode = new Map<string, string>();
  const entries: LayerEntry[] = [];
  for (const r of raws) {
    if (skipped(r.path)) continue;
    const xattrs: Record<string, string> = {};
    for (const [name, hex] of r.xattrs) if (name !== 'user.overlay.opaque') xattrs[name] = Buffer.from(hex, 'hex').toString('base64');
    const meta = {
      ...(r.uid !== 0 || r.gid !== 0 ? { uid: r.uid, gid: r.gid } : {}),
      ...(Object.keys(xattrs).length ? { xattrs } : {}),
    };
    switch (r.t) {
      case 'f': {
        const first = r.nlink > 1 ? firstOfInode.get(r.ino) : undefined;
        if (first !== undefined) {
          entries.push({ path: r.path, type: 'hardlink', target: first });
          break;
        }
        if (r.nlink > 1) firstOfInode.set(r.ino, r.path);
        const b = store.writeBlobFromFile(join(upper, r.path));
        entries.push({ path: r.path, type: 'file', mode: r.mode, size: b.size, digest: b.digest, ...meta });
        break;
      }
      case 'd':
        entries.push({ path: r.path, type: isOpaque(r, lower) ? 'opaque' : 'dir', mode: r.mode, ...meta });
        break;
      case 'l':
        entries.push({ path: r.path, type: 'symlink', mode: 0o777, target: r.target, ...meta });
        break;
      case 'c':
        if (isWhiteout(r)) entries.push({ path: r.path, type: 'whiteout' });
        else entries.push({ path: r.path, type: 'char', mode: r.mode, major: r.major, minor: r.minor, ...meta });
        break;
      case 'b':
        entries.push({ path: r.path, type: 'block', mode: r.mode, major: r.major, minor: r.minor, ...meta });
        break;
      case 'p':
        entries.push({ path: r.path, type: 'fifo', mode: r.mode, ...meta });
        break;
      default:
        // sockets are not part of a layer
        break;
    }
  }
  return entries;
}
