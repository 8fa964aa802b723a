/**
 * Walking the fanned-out folders (`<2 hex>/<64 hex><suffix>`) for verify, prune and size.
 */
import { join } from 'node:path';
import { isDigestHex } from './digest.js';
import type { Stats } from './fs.js';
import * as sfs from './fs.js';

export interface FannedFile {
  /** The digest the file is named by; undefined when the name is not a valid one. */
  digest: string | undefined;
  path: string;
  stat: Stats;
}

const FAN = /^[0-9a-f]{2}$/;

/** Every file under `base`, with the digest its name claims (undefined for stray names:
 *  a wrong fan-out folder, a wrong suffix, not 64 hex). Directories are not listed. */
export function walkFanned(base: string, suffix: string): FannedFile[] {
  const out: FannedFile[] = [];
  for (const fan of sfs.readdir(base)) {
    const dir = join(base, fan);
    if (!FAN.test(fan)) {
      const stat = sfs.stat(dir);
      if (stat?.isFile()) out.push({ digest: undefined, path: dir, stat });
      continue;
    }
    for (const name of sfs.readdir(dir)) {
      const path = join(dir, name);
      const stat = sfs.stat(path);
      if (!stat || stat.isDirectory()) continue;
      const stem = name.endsWith(suffix) ? name.slice(0, name.length - suffix.length) : '';
      const ok = isDigestHex(stem) && stem.startsWith(fan) && stat.isFile();
      out.push({ digest: ok ? stem : undefined, path, stat });
    }
  }
  return out;
}
