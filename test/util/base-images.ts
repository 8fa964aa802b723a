/**
 * Real base images for tests, made on this machine without the internet:
 *
 * - `busyboxBase()`: the host's static busybox with a symlink per applet, root and user 1000,
 *   /tmp 1777 (test/fixtures/make-busybox-base.sh; 1-4 s, 1.0 MB gzipped). For every test
 *   that needs a shell but no network.
 * - `debianBase()`: Debian bookworm minbase from the configured apt mirror, apt lists kept
 *   (test/fixtures/make-debian-base.sh; 26 s on a quiet 2-core machine here, 116-156 s at load
 *   average 14; 223 MB of tar, 73 MB gzipped; needs root and the mirror).
 *   Only for the suite that runs apt-get inside the sandbox.
 *
 * Each returns the directory of an OCI image layout (tags `latest` and `bookworm`), for
 * `FROM oci-layout://DIR:TAG` or `stratum load DIR -t NAME`. Treat it as read-only: it is
 * shared by every test file and every run on the machine.
 *
 * The layouts live outside the tests' temp dirs on purpose: the Debian build takes from half
 * a minute to a few minutes of a shared CPU and fetches from the mirror, so it is built once
 * per machine and reused by later runs. The cache is `$STRATUM_TEST_IMAGES`, else /var/tmp/stratum-test-images,
 * one directory per image named `<image>-<hash>`, where the hash covers the scripts and their
 * other inputs (the apt sources, the busybox binary): changing a script builds a new directory
 * and leaves the old one alone. Nothing else is touched: no pruning, no store, no apt state.
 *
 * Builds are safe to race: a `<dir>.lock` file created with `wx` (holding the builder's pid;
 * a lock whose process is gone is taken over), the script writes to a temp name, and a rename
 * publishes it. So a directory under its final name is always complete, and parallel test files
 * build an image once.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const PACK = join(FIXTURES, 'pack-oci-layout.sh');

/** Longest a build may take, and so the longest a waiter waits for another process's lock. */
const BUILD_TIMEOUT_MS = 10 * 60_000;
/** A lock file still empty after this long belongs to a process that died before writing its pid. */
const EMPTY_LOCK_STALE_MS = 30_000;

interface ImageSpec {
  name: string;
  script: string;
  /** Files besides the scripts whose content the image depends on. */
  inputs: () => string[];
}

const DEBIAN: ImageSpec = {
  name: 'debian-bookworm',
  script: join(FIXTURES, 'make-debian-base.sh'),
  inputs: () => {
    const d = '/etc/apt/sources.list.d';
    const listed = existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.list') || f.endsWith('.sources')).sort().map((f) => join(d, f)) : [];
    return ['/etc/apt/sources.list', ...listed];
  },
};

const BUSYBOX: ImageSpec = {
  name: 'busybox',
  script: join(FIXTURES, 'make-busybox-base.sh'),
  inputs: () => [process.env.BUSYBOX ?? '/bin/busybox'],
};

/**
 * The OCI layout of Debian bookworm minbase (tag `bookworm`), built by
 * test/fixtures/make-debian-base.sh at most once per machine. Needs root, mmdebstrap and the
 * apt mirror of /etc/apt/sources.list*; rejects with the script's output when the build fails.
 */
export function debianBase(): Promise<string> {
  return cachedImage(DEBIAN);
}

/** The OCI layout of a busybox-static image (tag `latest`), built by
 *  test/fixtures/make-busybox-base.sh at most once per machine. */
export function busyboxBase(): Promise<string> {
  return cachedImage(BUSYBOX);
}

/** Root of the image cache (shared by all runs on this machine). */
export function baseImageCacheRoot(): string {
  return process.env.STRATUM_TEST_IMAGES || '/var/tmp/stratum-test-images';
}

const inProcess = new Map<string, Promise<string>>();

function cachedImage(spec: ImageSpec): Promise<string> {
  let p = inProcess.get(spec.name);
  if (!p) {
    p = buildOnce(spec);
    inProcess.set(spec.name, p);
    p.catch(() => inProcess.delete(spec.name)); // a failed build may be retried
  }
  return p;
}

function inputHash(spec: ImageSpec): string {
  const h = createHash('sha256');
  for (const f of [spec.script, PACK, ...spec.inputs()]) {
    h.update(`${f}\0`);
    h.update(existsSync(f) ? readFileSync(f) : '(missing)');
    h.update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

const isLayout = (dir: string) => existsSync(join(dir, 'index.json')) && existsSync(join(dir, 'oci-layout'));

async function buildOnce(spec: ImageSpec): Promise<string> {
  const root = baseImageCacheRoot();
  const final = join(root, `${spec.name}-${inputHash(spec)}`);
  if (isLayout(final)) return final;
  mkdirSync(root, { recursive: true });
  const lock = `${final}.lock`;
  await acquireLock(lock);
  const tmp = join(root, `.tmp-${spec.name}-${randomBytes(6).toString('hex')}`);
  try {
    if (isLayout(final)) return final; // another process built it while we waited
    const started = Date.now();
    await runScript(spec.script, tmp);
    try {
      renameSync(tmp, final);
    } catch (err) {
      // A builder whose lock was taken over (it looked dead) may still have finished first.
      if (!isLayout(final)) throw err;
    }
    process.stderr.write(`[base-images] built ${final} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    return final;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    rmSync(lock, { force: true });
  }
}

async function acquireLock(lock: string): Promise<void> {
  const deadline = Date.now() + BUILD_TIMEOUT_MS + 30_000;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (lockIsStale(lock)) {
      // Unlink and race for it again: only one `wx` open can win.
      try {
        unlinkSync(lock);
      } catch {
        // someone else removed it first
      }
      continue;
    }
    if (Date.now() > deadline) throw new Error(`base-images: ${lock} is still held after ${BUILD_TIMEOUT_MS / 60_000} min; remove it if no build is running`);
    await sleep(250);
  }
}

function lockIsStale(lock: string): boolean {
  let text: string;
  let mtimeMs: number;
  try {
    text = readFileSync(lock, 'utf8').trim();
    mtimeMs = statSync(lock).mtimeMs;
  } catch {
    return false; // gone already: the next `wx` open decides
  }
  const pid = Number(text);
  if (!text || !Number.isInteger(pid) || pid <= 0) return Date.now() - mtimeMs > EMPTY_LOCK_STALE_MS;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function runScript(script: string, out: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout stops mmdebstrap too, not only the shell.
    const child = spawn('bash', [script, out], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let log = '';
    const keep = (d: Buffer) => {
      log = (log + d.toString()).slice(-8000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    // SIGTERM, not SIGKILL: mmdebstrap unmounts what it mounted in the chroot on TERM.
    const timer = setTimeout(() => {
      if (child.pid) process.kill(-child.pid, 'SIGTERM');
    }, BUILD_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`base-images: cannot run ${script}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`base-images: ${script} ${out} failed (${signal ?? `exit ${code}`}):\n${log}`));
    });
  });
}
