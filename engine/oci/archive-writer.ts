/**
 * Writing an image archive (an OCI layout or a docker-archive as one tar file): entries are
 * added in the caller's order with the same fixed header fields as layer tars, the tar goes
 * to a temp file beside `dest` and is renamed over it once complete, so `dest` is never a
 * half-written archive and a failed export leaves what was there before.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, renameSync, rmSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack as tarPack } from 'tar-stream';
import { packEntry } from './tar-stream-util.js';

export class TarArchiveWriter {
  readonly #pack = tarPack();
  readonly #tmp: string;
  readonly #done: Promise<void>;
  readonly #file: WriteStream;
  readonly #base: { mtime: Date; uid: number; gid: number; uname: string; gname: string };

  constructor(readonly dest: string, epochSeconds: number) {
    mkdirSync(dirname(dest), { recursive: true });
    this.#tmp = join(dirname(dest), `.${basename(dest)}.stratum-${randomBytes(6).toString('hex')}`);
    this.#base = { mtime: new Date(epochSeconds * 1000), uid: 0, gid: 0, uname: '', gname: '' };
    const pack = this.#pack;
    this.#file = createWriteStream(this.#tmp, { flags: 'wx' });
    this.#done = pipeline(
      (async function* () {
        for await (const chunk of pack) yield chunk as Buffer;
      })(),
      this.#file,
    );
    // Surface write errors through finish()/abort(), not as an unhandled rejection.
    this.#done.catch(() => {});
  }

  dir(name: string): Promise<void> {
    return packEntry(this.#pack, { ...this.#base, name: `${name}/`, type: 'directory', mode: 0o755 });
  }

  file(name: string, data: Uint8Array): Promise<void> {
    return packEntry(this.#pack, { ...this.#base, name, type: 'file', mode: 0o644, size: data.length }, data);
  }

  /** A file of known size whose bytes come from `body` (a mismatch fails the entry). */
  stream(name: string, size: number, body: AsyncIterable<Uint8Array>): Promise<void> {
    return packEntry(this.#pack, { ...this.#base, name, type: 'file', mode: 0o644, size }, body);
  }

  /** End the archive and move it into place. */
  async finish(): Promise<void> {
    this.#pack.finalize();
    try {
      await this.#done;
      renameSync(this.#tmp, this.dest);
    } finally {
      rmSync(this.#tmp, { force: true });
    }
  }

  /** Drop the partial archive. */
  async abort(err: Error): Promise<void> {
    this.#pack.destroy(err);
    await this.#done.catch(() => {});
    // The file may still be opening when the pipeline gives up: remove it once it is closed.
    if (!this.#file.closed) await once(this.#file, 'close').catch(() => {});
    rmSync(this.#tmp, { force: true });
  }
}
