/**
 * Binary-safe PAX records for tar-stream. xattr values (`SCHILY.xattr.<name>`, the convention
 * of GNU tar and Go's archive/tar, which containerd, umoci and BuildKit use) are bytes:
 * `security.capability` is a binary struct. tar-stream 3 encodes and decodes every PAX value
 * as UTF-8, which turns any byte ≥ 0x80 of such a value into U+FFFD on the way in.
 *
 * Rather than write tar headers by hand, the two PAX functions of tar-stream's `headers`
 * module (which its pack and extract call through the module object) are replaced, once, by
 * versions that treat `SCHILY.xattr.*` values as latin1 strings (one char per byte, so the
 * bytes survive both ways) and every other record exactly as before (UTF-8). Record lengths
 * count bytes, as POSIX requires. Importing this module installs them; layer-tar.ts and
 * tar-stream-util.ts import it.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
/** tar-stream's `headers.js` by file, so that it is the very module its pack and extract use
 *  (the package's `exports` does not list it). */
const headers = require(join(dirname(require.resolve('tar-stream')), 'headers.js')) as {
  encodePax(opts: { name?: string; linkname?: string; pax?: Record<string, string> | null }): Uint8Array;
  decodePax(buf: Uint8Array): Record<string, string>;
  __stratumBinaryPax?: true;
};

export const XATTR_PREFIX = 'SCHILY.xattr.';
const isBinary = (key: string) => key.startsWith(XATTR_PREFIX);

/** One record, `<len> <key>=<value>\n`, where len counts the whole record in bytes. */
function record(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

if (!headers.__stratumBinaryPax) {
  headers.encodePax = (opts) => {
    const out: Buffer[] = [];
    if (opts.name) out.push(record('path', Buffer.from(opts.name)));
    if (opts.linkname) out.push(record('linkpath', Buffer.from(opts.linkname)));
    for (const [k, v] of Object.entries(opts.pax ?? {})) out.push(record(k, Buffer.from(v, isBinary(k) ? 'latin1' : 'utf8')));
    return Buffer.concat(out);
  };
  headers.decodePax = (raw) => {
    const result: Record<string, string> = {};
    let buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    while (buf.length) {
      const sp = buf.indexOf(0x20);
      if (sp <= 0) return result;
      const len = parseInt(buf.subarray(0, sp).toString('latin1'), 10);
      if (!len || len > buf.length) return result;
      const rec = buf.subarray(sp + 1, len - 1);
      const eq = rec.indexOf(0x3d);
      if (eq < 0) return result;
      const key = rec.subarray(0, eq).toString('utf8');
      result[key] = rec.subarray(eq + 1).toString(isBinary(key) ? 'latin1' : 'utf8');
      buf = buf.subarray(len);
    }
    return result;
  };
  headers.__stratumBinaryPax = true;
}

/** The bytes of an xattr value as it is in a PAX header (see above) and back. */
export const paxValue = (base64: string) => Buffer.from(base64, 'base64').toString('latin1');
export const fromPaxValue = (latin1: string) => Buffer.from(latin1, 'latin1').toString('base64');
