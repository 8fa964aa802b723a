/**
 * Registries for the registry tests, all on 127.0.0.1 with free ports: Debian's distribution
 * registry (`docker-registry`, optionally behind htpasswd basic auth), small node:http
 * servers (a bearer-token service, a scripted hostile registry), and images built in memory.
 *
 * A registry process cannot outlive the test: it runs under `sh`, which kills it when its
 * stdin (a pipe from the test process) closes — also when the test process is SIGKILLed —
 * and `timeout` ends it after 15 minutes whatever happens; the shell then removes its folder.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, openSync, closeSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { makeTar } from '../util/oci-kit.js';

const execFileP = promisify(execFile);
export const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

/** A port nobody listens on right now (the kernel's choice). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RunningRegistry {
  /** `127.0.0.1:PORT`. */
  host: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
  log(): string;
}

async function waitFor(url: string, ms: number, child?: ChildProcess): Promise<void> {
  const until = Date.now() + ms;
  let last = '';
  while (Date.now() < until) {
    if (child && child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}) before answering ${url}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await r.body?.cancel();
      return;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${ms} ms: ${last}`);
}

/** Start Debian's docker-registry on a free loopback port; with `basicAuth`, behind htpasswd. */
export async function startRegistry(opts: { basicAuth?: { username: string; password: string } } = {}): Promise<RunningRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'stratum-registry-'));
  const port = await freePort();
  let auth = '';
  if (opts.basicAuth) {
    let out: { stdout: string };
    try {
      out = await execFileP('htpasswd', ['-Bbn', opts.basicAuth.username, opts.basicAuth.password]);
    } catch (err) {
      throw new Error(`htpasswd failed (apt-get install -y apache2-utils): ${(err as Error).message}`);
    }
    writeFileSync(join(dir, 'htpasswd'), out.stdout);
    auth = `auth:\n  htpasswd:\n    realm: stratum-test\n    path: ${join(dir, 'htpasswd')}\n`;
  }
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n  secret: stratum-test-secret\n${auth}`,
  );
  const logPath = join(dir, 'registry.log');
  const logFd = openSync(logPath, 'a');
  const child = spawn('sh', ['-c', 'timeout 900 docker-registry serve "$1" & p=$!; read _ignored; kill $p 2>/dev/null; wait $p; rm -rf "$2"', 'sh', config, dir], { stdio: ['pipe', logFd, logFd] });
  closeSync(logFd);
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const kill = () => child.stdin?.end();
  process.once('exit', kill);
  const log = () => {
    try {
      return readFileSync(logPath, 'utf8');
    } catch {
      return '';
    }
  };
  try {
    await waitFor(`http://127.0.0.1:${port}/v2/`, 15_000, child);
  } catch (err) {
    kill();
    throw new Error(`docker-registry did not start (apt-get install -y docker-registry): ${(err as Error).message}\n${log()}`);
  }
  return {
    host: `127.0.0.1:${port}`,
    port,
    dir,
    log,
    async stop() {
      process.removeListener('exit', kill);
      kill();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void | Promise<void>;

export interface TestServer {
  host: string;
  port: number;
  server: Server;
  /** Every request seen: method, url, headers. */
  seen: { method: string; url: string; headers: IncomingMessage['headers'] }[];
  stop(): Promise<void>;
}

/** A node:http server on 127.0.0.1 whose every request goes to `handler` (body read first). */
export async function startServer(handler: Handler): Promise<TestServer> {
  const seen: TestServer['seen'] = [];
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      Promise.resolve(handler(req, res, Buffer.concat(parts))).catch((err) => {
        if (!res.headersSent) res.writeHead(500);
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  // Servers stop themselves if a test forgets to.
  const lifetime = setTimeout(() => server.close(), 10 * 60_000);
  lifetime.unref();
  return {
    host: `127.0.0.1:${port}`,
    port,
    server,
    seen,
    stop: () =>
      new Promise<void>((resolve) => {
        clearTimeout(lifetime);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface TestImage {
  config: Buffer;
  layers: { tar: Buffer; blob: Buffer; digest: string; size: number }[];
  manifest: Buffer;
  manifestDigest: string;
}

/** A small OCI image: `files` as one gzipped layer, a config for `arch`. */
export async function makeImage(files: Record<string, string>, arch = 'amd64'): Promise<TestImage> {
  const tar = await makeTar(Object.entries(files).map(([name, body]) => ({ name, body })));
  const blob = gzipSync(tar);
  const config = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', config: { Env: ['PATH=/usr/bin'] }, rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(tar)}`] }, history: [{ created_by: 'test' }] }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha256(config)}`, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${sha256(blob)}`, size: blob.length }],
    }),
  );
  return { config, layers: [{ tar, blob, digest: `sha256:${sha256(blob)}`, size: blob.length }], manifest, manifestDigest: `sha256:${sha256(manifest)}` };
}

/** Run skopeo; a missing skopeo fails with how to install it. */
export async function skopeo(args: string[]): Promise<string> {
  try {
    return (await execFileP('skopeo', args, { maxBuffer: 64 << 20, timeout: 120_000 })).stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('skopeo is not installed: apt-get install -y skopeo');
    throw new Error(`skopeo ${args.join(' ')} failed: ${e.stderr || e.message}`);
  }
}
