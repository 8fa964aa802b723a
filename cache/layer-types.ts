import type { BlobDigest, LayerDigest } from './digest.js';

/**
 * One entry of a layer: the change a step made at one path.
 *
 * Paths are relative to the image root, '/'-separated, with no leading '/', no '.'
 * or '..' segments and no trailing '/': `app/src/main.js`. The root itself is never
 * an entry.
 *
 * - `file`: a regular file; `digest` names its blob, `size` its length in bytes.
 * - `dir`: a directory exists here with this mode. Lower content beneath it still shows.
 * - `symlink`: `target` is the link text, stored as is (never resolved).
 * - `whiteout`: the path (and everything beneath it) is deleted.
 * - `opaque`: a directory exists here with this mode and hides everything lower beneath it
 *   (the directory was replaced as a whole).
 *
 * `mode` holds the permission bits only (0o777 plus setuid/setgid/sticky), never the type bits.
 * mtimes, owners and inode numbers are deliberately absent: the same content gives the
 * same layer digest on every machine.
 */
export type LayerEntry =
  | { path: string; type: 'file'; mode: number; size: number; digest: BlobDigest }
  | { path: string; type: 'dir'; mode: number }
  | { path: string; type: 'symlink'; mode: number; target: string }
  | { path: string; type: 'whiteout' }
  | { path: string; type: 'opaque'; mode: number };

export type EntryType = LayerEntry['type'];

/** A layer: entries sorted by path (byte order of the UTF-8 path, i.e. plain `<` on strings
 *  compared with compareLayerPaths), each path at most once. */
export interface Layer {
  digest: LayerDigest;
  entries: LayerEntry[];
  /** Sum of the sizes of the file entries. */
  size: number;
}

/** What a path looks like in a union view: the visible, non-deleted state. */
export type ViewEntry =
  | { type: 'file'; mode: number; size: number; digest: BlobDigest }
  | { type: 'dir'; mode: number }
  | { type: 'symlink'; mode: number; target: string };

/** A whole union view: path → visible entry, every ancestor directory present. */
export type View = Map<string, ViewEntry>;
