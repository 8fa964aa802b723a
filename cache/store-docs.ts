/**
 * Small named JSON documents (`docs-v1/<kind>/<xxh64(name)>.json`): stat caches, step
 * histories, output manifests, import caches. A document may carry `meta`, which tells
 * prune when it is garbage and what it keeps alive, without prune knowing the engine's
 * document kinds:
 *
 * - `paths`: the paths it describes (a context, an output directory): it goes once none of
 *   them exists;
 * - `layers`: layers it needs (an imported layer, a cached tar): it goes once one is gone;
 * - `base`: an imported base image (`chain` is its chain): its `layers` are kept while an
 *   image or a kept key stands on that chain, and go (with the document) once none does;
 * - `blobs`: blobs kept while the key beside each is kept (the file lists behind miss
 *   explanations, named from step histories).
 *
 * A document without meta is never removed by prune (its kind is unknown to it).
 *
 * A binary document (`docs-v2/<kind>/<xxh64(name)>.bin`) is for data too large to parse as
 * JSON on every build (the context's stat cache: 10k rows were 15 ms of JSON.parse). Its
 * envelope is the magic `SDOC`, a little-endian u32 header length, the header as JSON
 * (`{name, meta}`, so prune reads its meta as for any document) and then the payload, whose
 * format (and version) belongs to its writer.
 */
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-write.js';
import { DOCS } from './store-layout.js';
import type { StoreState } from './store-state.js';
import * as sfs from './fs.js';

export interface DocMeta {
  paths?: string[];
  layers?: string[];
  base?: { chain: string };
  blobs?: { blob: string; key: string }[];
}

export function readDoc<T>(s: StoreState, kind: string, name: string): T | undefined {
  const text = sfs.readFile(s.layout.doc(kind, name));
  if (text === undefined) return undefined;
  try {
    const doc = JSON.parse(text.toString('utf8')) as { name?: unknown; value?: T };
    // The file name is a hash of `name`; the name inside guards against a collision.
    return doc.name === name ? doc.value : undefined;
  } catch {
    return undefined;
  }
}

const BIN_MAGIC = 0x434f4453; // 'SDOC' read as a little-endian u32

/** The payload of a binary document, or undefined when it is absent, is not one, or names
 *  another `name` (a hash collision). The payload is a view into a buffer of its own. */
export function readBinaryDoc(s: StoreState, kind: string, name: string): Buffer | undefined {
  const buf = sfs.readFile(s.layout.binDoc(kind, name));
  if (buf === undefined) return undefined;
  const header = binHeader(buf);
  return header?.name === name ? buf.subarray(header.end) : undefined;
}

export function writeBinaryDoc(s: StoreState, kind: string, name: string, payload: Uint8Array, meta?: DocMeta): void {
  // The header is padded with spaces so the payload starts 8-aligned: a reader can then view
  // its numbers in place (a Float64Array needs it).
  const json = JSON.stringify(meta ? { name, meta } : { name });
  const head = Buffer.from(json + ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8));
  const out = Buffer.allocUnsafe(8 + head.length + payload.length);
  out.writeUInt32LE(BIN_MAGIC, 0);
  out.writeUInt32LE(head.length, 4);
  head.copy(out, 8);
  out.set(payload, 8 + head.length);
  writeFileAtomic(s.dirs, s.layout.tmpDir, s.layout.binDoc(kind, name), out);
}

function binHeader(buf: Buffer): { name?: unknown; meta?: DocMeta; end: number } | undefined {
  if (buf.length < 8 || buf.readUInt32LE(0) !== BIN_MAGIC) return undefined;
  const end = 8 + buf.readUInt32LE(4);
  if (end > buf.length) return undefined;
  try {
    const h = JSON.parse(buf.toString('utf8', 8, end)) as { name?: unknown; meta?: DocMeta } | null;
    return h && typeof h === 'object' ? { ...h, end } : undefined;
  } catch {
    return undefined;
  }
}

export function writeDoc(s: StoreState, kind: string, name: string, value: unknown, meta?: DocMeta): void {
  writeFileAtomic(s.dirs, s.layout.tmpDir, s.layout.doc(kind, name), JSON.stringify(meta ? { name, value, meta } : { name, value }));
}

export interface DocFile {
  kind: string;
  path: string;
  size: number;
  /** undefined when the file does not parse (junk, removed by prune). */
  meta: DocMeta | undefined;
  parsed: boolean;
}

/** Every document of the store, with its meta. */
export function listDocs(s: StoreState): DocFile[] {
  const out: DocFile[] = [];
  const base = join(s.layout.root, DOCS);
  for (const kind of sfs.readdir(base)) {
    for (const f of sfs.readdir(join(base, kind))) {
      const path = join(base, kind, f);
      const st = sfs.stat(path);
      if (!st?.isFile()) continue;
      const text = sfs.readFile(path);
      let doc: { meta?: DocMeta } | undefined;
      if (f.endsWith('.bin')) doc = text ? binHeader(text) : undefined;
      else {
        try {
          doc = text ? (JSON.parse(text.toString('utf8')) as { meta?: DocMeta }) : undefined;
        } catch {
          doc = undefined;
        }
      }
      out.push({ kind, path, size: st.size, meta: doc?.meta, parsed: doc !== undefined });
    }
  }
  return out;
}
