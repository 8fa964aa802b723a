/**
 * `ADD <http(s) URL> <dest>`: the remote file, downloaded into the store as a blob, keyed by
 * its content (as BuildKit keys it), never by the URL alone: a server that changes the file
 * changes the key.
 *
 * Each build asks the server again, conditionally: the ETag and Last-Modified of the last
 * download are sent (If-None-Match, If-Modified-Since), and a 304 reuses the stored blob
 * without a byte of body. With `--checksum=sha256:…` the checksum is the content: when that
 * blob is in the store, nothing is asked at all; a download that hashes to anything else fails
 * the step and stores nothing.
 *
 * The body streams to a temp file in an import slot of the store (the blobs' file system),
 * hashed as it is written, and is linked in as a blob only once complete (adoptBlobFile).
 * The file is not unpacked (a remote archive stays an archive, as in Docker); its mode is
 * 0600 unless --chmod says otherwise; its name under a directory destination is the
 * response's Content-Disposition filename, else the last segment of the URL's path.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { asBlobDigest, type BlobDigest } from '../cache/digest.js';
import type { Store } from '../cache/store-types.js';
import { CopyError } from './copy.js';

export interface RemoteFile {
  url: string;
  digest: BlobDigest;
  size: number;
  /** The file's name under a directory destination. */
  name: string;
}

/** What the last download of a URL said, kept as a store doc (kind `http-sources`). */
interface RemoteRecord {
  url: string;
  digest: string;
  size: number;
  name: string;
  etag?: string;
  lastModified?: string;
}

const DOC_KIND = 'http-sources';
/** A server that sends nothing for this long fails the download. */
const IDLE_MS = 60_000;

export function isHttpSource(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/** A source ADD would clone (BuildKit's git forms): refused, with a hint. */
export function isGitSource(source: string): boolean {
  return /^git@[^:]+:/.test(source) || /^git:\/\//i.test(source) || /^https?:\/\/[^#]+\.git(#.*)?$/i.test(source);
}

/** The name BuildKit gives a downloaded file: Content-Disposition's filename, else the URL path's last segment. */
function fileName(url: URL, disposition: string | null): string {
  const m = disposition ? /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition) : null;
  const fromHeader = m ? posix.basename(decodeURIComponent(m[1]!.trim())) : '';
  if (fromHeader && fromHeader !== '.' && fromHeader !== '..') return fromHeader;
  const seg = posix.basename(decodeURIComponent(url.pathname));
  return seg && seg !== '/' && seg !== '.' && seg !== '..' ? seg : '__unnamed__';
}

function checksumDigest(checksum: string | undefined): BlobDigest | undefined {
  if (checksum === undefined) return undefined;
  const m = /^sha256:([0-9a-f]{64})$/.exec(checksum);
  if (!m) throw new CopyError(`ADD --checksum=${checksum}: not a sha256 digest`, 'write it as sha256:<64 lowercase hex digits>, e.g. the output of sha256sum');
  return asBlobDigest(m[1]!);
}

/**
 * The remote file `source` names, in the store (downloaded, or known from the last download
 * when the server answers 304). Network failures and bad statuses throw CopyError naming the
 * URL; `signal` cancels a download.
 */
export async function fetchRemote(store: Store, source: string, opts: { checksum?: string; signal?: AbortSignal } = {}): Promise<RemoteFile> {
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    throw new CopyError(`ADD ${source}: not a valid URL`, 'write an absolute http:// or https:// URL');
  }
  const want = checksumDigest(opts.checksum);
  const rec = store.readDoc<RemoteRecord>(DOC_KIND, source);
  const known = rec && rec.url === source && store.hasBlob(asBlobDigest(rec.digest)) ? rec : undefined;
  if (want && store.hasBlob(want)) {
    // The checksum is the content: nothing to ask (the name is the last download's, else the URL's).
    const name = known?.digest === want ? known.name : fileName(url, null);
    const size = known?.digest === want ? known.size : statSync(store.blobPath(want)).size;
    return { url: source, digest: want, size, name };
  }
  // With a checksum that is not in the store, the last download is of no use (it is not that
  // content): ask for the whole file, and check it.
  const headers: Record<string, string> = {};
  if (known && !want && known.etag) headers['if-none-match'] = known.etag;
  if (known && !want && known.lastModified) headers['if-modified-since'] = known.lastModified;
  let res: Response;
  try {
    res = await fetch(url, { headers, redirect: 'follow', ...(opts.signal ? { signal: opts.signal } : {}) });
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new CopyError(`ADD ${source}: the download failed (${cause?.code ?? cause?.message ?? (err as Error).message})`, 'check that the server is up and reachable from this machine, or download the file into the build context');
  }
  if (res.status === 304 && known && !want) {
    await res.body?.cancel();
    return { url: source, digest: asBlobDigest(known.digest), size: known.size, name: known.name };
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new CopyError(`ADD ${source}: the server answered ${res.status} ${res.statusText}`.trimEnd(), res.status === 404 ? 'check the URL: the server has no file there' : res.status === 401 || res.status === 403 ? 'the file is not public: download it into the build context yourself, or fetch it in a RUN with the credentials it needs' : 'try again later, or download the file into the build context');
  }
  const name = fileName(new URL(res.url || source), res.headers.get('content-disposition'));
  const dir = store.importDir();
  try {
    const tmp = join(dir.path, 'download');
    const { digest, size } = await streamToFile(res, tmp, source);
    const length = res.headers.get('content-length');
    if (length !== null && res.headers.get('content-encoding') === null && Number(length) !== size) {
      throw new CopyError(`ADD ${source}: the download ended after ${size} of ${length} bytes`, 'try again: the connection was dropped');
    }
    if (want && digest !== want) {
      throw new CopyError(`ADD ${source}: checksum mismatch: expected sha256:${want}, the download is sha256:${digest}`, 'the file on the server is not the one --checksum names: check the URL, or update the checksum if the new file is the one you want');
    }
    const blob = store.adoptBlobFile(tmp, { digest, size });
    const next: RemoteRecord = { url: source, digest: blob.digest, size, name };
    const etag = res.headers.get('etag');
    const lastModified = res.headers.get('last-modified');
    if (etag) next.etag = etag;
    if (lastModified) next.lastModified = lastModified;
    store.writeDoc(DOC_KIND, source, next);
    return { url: source, digest: blob.digest, size, name };
  } finally {
    dir.remove();
  }
}

/** The body into `path`, hashed and counted as it is written. */
async function streamToFile(res: Response, path: string, source: string): Promise<{ digest: BlobDigest; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  const fh = await open(path, 'wx', 0o600);
  try {
    const reader = res.body!.getReader();
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      let next: Awaited<ReturnType<typeof reader.read>>;
      try {
        next = await Promise.race([
          reader.read(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new CopyError(`ADD ${source}: no data for ${IDLE_MS / 1000} s`, 'try again later: the server stopped sending')), IDLE_MS);
          }),
        ]);
      } catch (err) {
        if (err instanceof CopyError) throw err;
        throw new CopyError(`ADD ${source}: the download was cut off after ${size} bytes (${(err as Error).message})`, 'try again: the connection was dropped');
      } finally {
        clearTimeout(timer);
      }
      if (next.done) break;
      hash.update(next.value);
      size += next.value.length;
      await fh.write(next.value);
    }
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(path, { force: true });
    throw err;
  }
  await fh.close();
  return { digest: asBlobDigest(hash.digest('hex')), size };
}
