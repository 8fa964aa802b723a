import type { BlobDigest, LayerDigest } from './digest.js';

/**
 * One entry of a layer: the change a step made at one path (layer model v2).
 *
 * Paths are relative to the image root, '/'-separated, with no leading '/', no '.'
 * or '..' segments and no trailing '/': `app/src/main.js`. The root itself is never
 * an entry.
 *
 * - `file`: a regular file; `digest` names its blob, `size` its length in bytes.
 * - `dir`: a directory exists here with this mode. Lower content beneath it still shows.
 * - `symlink`: `target` is the link text, stored as is (never resolved).
 * - `hardlink`: another name for the regular file at `target`, a path that is a `file`
 *   entry earlier in the same layer (as in a tar stream). It shares that file's content,
 *   mode, owner and xattrs.
 * - `char` / `block`: a device node with `major`/`minor` numbers.
 * - `fifo`: a named pipe.
 * - `whiteout`: the path (and everything beneath it) is deleted.
 * - `opaque`: a directory exists here with this mode and hides everything lower beneath it
 *   (the directory was replaced as a whole).
 *
 * `mode` holds the permission bits only (0o777 plus setuid/setgid/sticky), never the type bits.
 * Owners are part of an entry (and of the layer digest) only when they are not root:
 * `uid`/`gid` are omitted for 0. `xattrs` maps an attribute name (`security.capability`,
 * `user.*`) to its value, base64; omitted when empty. mtimes and inode numbers are
 * deliberately absent: the same content gives the same layer digest on every machine.
 */
export interface EntryMeta {
  uid?: number;
  gid?: number;
  xattrs?: Record<string, string>;
}

export type LayerEntry =
  | ({ path: string; type: 'file'; mode: number; size: number; digest: BlobDigest } & EntryMeta)
  | ({ path: string; type: 'dir'; mode: number } & EntryMeta)
  | ({ path: string; type: 'symlink'; mode: number; target: string } & EntryMeta)
  | { path: string; type: 'hardlink'; target: string }
  | ({ path: string; type: 'char' | 'block'; mode: number; major: number; minor: number } & EntryMeta)
  | ({ path: string; type: 'fifo'; mode: number } & EntryMeta)
  | { path: string; type: 'whiteout' }
  | ({ path: string; type: 'opaque'; mode: number } & EntryMeta);

export type EntryType = LayerEntry['type'];

/** A layer: entries sorted by path (byte order of the UTF-8 path, i.e. plain `<` on strings
 *  compared with compareLayerPaths), each path at most once. */
export interface Layer {
  digest: LayerDigest;
  entries: LayerEntry[];
  /** Sum of the sizes of the file entries. */
  size: number;
}

/** What a path looks like in a union view: the visible, non-deleted state. A file reached
 *  through a hardlink entry is a `file` whose `link` names the first path of its group. */
export type ViewEntry =
  | ({ type: 'file'; mode: number; size: number; digest: BlobDigest; link?: string } & EntryMeta)
  | ({ type: 'dir'; mode: number } & EntryMeta)
  | ({ type: 'symlink'; mode: number; target: string } & EntryMeta)
  | ({ type: 'char' | 'block'; mode: number; major: number; minor: number } & EntryMeta)
  | ({ type: 'fifo'; mode: number } & EntryMeta);

/** A whole union view: path → visible entry, every ancestor directory present. */
export type View = Map<string, ViewEntry>;
