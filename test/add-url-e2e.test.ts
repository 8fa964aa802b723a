/**
 * ADD of an http(s) URL, end to end through the CLI, against a server of this test on
 * 127.0.0.1: keyed by content, asked again conditionally, --checksum, and the failures.
 */
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { suite, Rig } from './util/rig.js';
import { buildDone, runCli, stepsDone, type CliResult } from './util/cli.js';
import { createStore } from '../cache/store.js';
import { asBlobDigest } from '../cache/digest.js';

const sha256 = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

interface Served {
  body: Buffer;
  etag?: string;
  headers?: Record<string, string>;
  /** Send this many bytes of the body, then cut the connection. */
  cutAt?: number;
}

const t = suite('ADD <url>', { timeoutMs: 60_000 });
let rig: Rig;
let server: Server;
let base: string;
const files = new Map<string, Served>();
const log: { path: string; conditional: boolean; status: number }[] = [];

t.before(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const f = files.get(req.url ?? '');
    const conditional = req.headers['if-none-match'] !== undefined;
    const answer = (status: number) => log.push({ path: req.url ?? '', conditional, status });
    if (!f) {
      answer(404);
      res.writeHead(404).end('not here');
      return;
    }
    if (f.etag && req.headers['if-none-match'] === f.etag) {
      answer(304);
      res.writeHead(304).end();
      return;
    }
    answer(200);
    res.writeHead(200, { 'content-length': String(f.body.length), ...(f.etag ? { etag: f.etag } : {}), ...f.headers });
    if (f.cutAt !== undefined) {
      res.write(f.body.subarray(0, f.cutAt));
      setTimeout(() => res.socket?.destroy(), 20);
    } else res.end(f.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
t.beforeEach(() => {
  rig = new Rig();
  files.clear();
  log.length = 0;
});
t.afterEach(() => rig.cleanup());

const build = (dockerfile: string): Promise<CliResult> => {
  rig.write({ 'ctx/Dockerfile': dockerfile });
  return runCli(['build', '--progress=json', '--cache-dir', rig.path('store'), '-o', rig.path('out'), rig.path('ctx')]);
};
const serve = (path: string, body: string | Buffer, more: Omit<Served, 'body'> = {}) => {
  const b = Buffer.from(body);
  files.set(path, { body: b, etag: `"${sha256(b).slice(0, 16)}"`, ...more });
};
const bodies = () => log.filter((l) => l.status === 200).length;
const hasBlob = (text: string | Buffer) => createStore(rig.path('store')).hasBlob(asBlobDigest(sha256(text)));

t.test('the file lands under its name, mode 0600; the next build asks with the ETag and a 304 is a hit with no body', async () => {
  serve('/dl/tool.sh', 'echo tool\n');
  serve('/get?id=7', 'attached\n', { headers: { 'content-disposition': 'attachment; filename="named.txt"' } });
  const df = ['FROM scratch', `ADD ${base}/dl/tool.sh /opt/`, `ADD ${base}/dl/tool.sh /opt/renamed.sh`, `ADD --chmod=755 ${base}/get?id=7 /etc/`, ''].join('\n');
  const a = await build(df);
  assert.is(a.code, 0, a.stderr);
  assert.is(rig.read('out/opt/tool.sh'), 'echo tool\n');
  assert.is(rig.read('out/opt/renamed.sh'), 'echo tool\n');
  assert.is(rig.read('out/etc/named.txt'), 'attached\n', 'the Content-Disposition filename');
  assert.is(statSync(rig.path('out/opt/tool.sh')).mode & 0o777, 0o600);
  assert.is(statSync(rig.path('out/etc/named.txt')).mode & 0o777, 0o755);
  assert.is(bodies(), 2, 'one download per file: the second ADD of tool.sh got a 304');

  log.length = 0;
  const b = await build(df);
  assert.is(b.code, 0, b.stderr);
  assert.is(buildDone(b)?.hits, 3, 'the three ADDs');
  assert.is(bodies(), 0, 'no body downloaded again');
  assert.ok(log.length === 3 && log.every((l) => l.conditional && l.status === 304), JSON.stringify(log));
});

t.test('a file changed on the server is a miss that names the URL; a remote archive is not unpacked', async () => {
  const tgz = gzipSync(Buffer.from('not really a tar, but gzip\n'));
  serve('/v.txt', 'one\n');
  serve('/pkg.tar.gz', tgz);
  const df = ['FROM scratch', `ADD ${base}/v.txt /`, `ADD ${base}/pkg.tar.gz /`, ''].join('\n');
  assert.is((await build(df)).code, 0);
  assert.ok(Buffer.from(rig.read('out/pkg.tar.gz'), 'latin1').length > 0);
  assert.ok(rig.exists('out/pkg.tar.gz'), 'kept as the archive');
  serve('/v.txt', 'two\n');
  const r = await build(df);
  assert.is(r.code, 0, r.stderr);
  const add = stepsDone(r).find((s) => s.index === 2)!;
  assert.is(add.cached, false);
  assert.match(JSON.stringify(r.events.filter((e) => e.type === 'step-start' && e.index === 2)), `${base}/v.txt`);
  assert.is(rig.read('out/v.txt'), 'two\n');
  assert.is(stepsDone(r).find((s) => s.index === 3)!.cached, false, 'the next step stands on a new layer');
});

t.test('--checksum: a match in the store asks nothing; a mismatch fails the step, names both digests and stores nothing', async () => {
  serve('/c.txt', 'checked\n');
  const good = ['FROM scratch', `ADD --checksum=sha256:${sha256('checked\n')} ${base}/c.txt /`, ''].join('\n');
  const a = await build(good);
  assert.is(a.code, 0, a.stderr);
  log.length = 0;
  const b = await build(good);
  assert.is(b.code, 0, b.stderr);
  assert.is(log.length, 0, 'the checksum is the content: no request');
  assert.is(buildDone(b)?.hits, 1);

  serve('/c.txt', 'tampered\n');
  const bad = ['FROM scratch', `ADD --checksum=sha256:${sha256('other\n')} ${base}/c.txt /`, ''].join('\n');
  const c = await build(bad);
  assert.is.not(c.code, 0);
  assert.match(c.stderr, 'Dockerfile:2:1');
  assert.match(c.stderr, `checksum mismatch: expected sha256:${sha256('other\n')}, the download is sha256:${sha256('tampered\n')}`);
  assert.not.match(c.stderr, /\n\s+at /, 'no stack trace');
  assert.not.ok(hasBlob('tampered\n'), 'the download was not stored');
});

t.test('404, a refused connection and a cut-off body fail with the URL and a hint, storing nothing', async () => {
  const missing = await build(['FROM scratch', `ADD ${base}/nope.bin /`, ''].join('\n'));
  assert.is.not(missing.code, 0);
  assert.match(missing.stderr, `ADD ${base}/nope.bin: the server answered 404`);
  assert.match(missing.stderr, 'hint:');

  // A port nothing listens on: one the system gave and took back.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const refused = await build(['FROM scratch', `ADD http://127.0.0.1:${port}/x.txt /`, ''].join('\n'));
  assert.is.not(refused.code, 0);
  assert.match(refused.stderr, `ADD http://127.0.0.1:${port}/x.txt: the download failed (ECONNREFUSED)`);

  const body = 'x'.repeat(200_000);
  serve('/big.txt', body, { cutAt: 50_000 });
  const cut = await build(['FROM scratch', `ADD ${base}/big.txt /`, ''].join('\n'));
  assert.is.not(cut.code, 0);
  assert.match(cut.stderr, /ADD http:\/\/127\.0\.0\.1:\d+\/big\.txt: the download (was cut off|ended) after/);
  assert.not.ok(hasBlob(body.slice(0, 50_000)), 'no partial blob');
  assert.not.ok(hasBlob(body));
});

t.test('ADD --unpack <url> unpacks a downloaded tar archive (a download that is none is copied); --unpack=false keeps a local archive whole; the flag is in the key', async () => {
  const { execSync } = await import('node:child_process');
  rig.write({ 'pkg/bin/tool': 'tool\n', 'pkg/doc.txt': 'doc\n' });
  execSync('mkdir -p ctx && tar -czf pkg.tgz -C pkg . && cp pkg.tgz ctx/local.tgz', { cwd: rig.path('.') });
  serve('/pkg.tgz', (await import('node:fs')).readFileSync(rig.path('pkg.tgz')));
  serve('/plain.txt', 'plain\n');
  const df = ['FROM scratch', `ADD --unpack=true ${base}/pkg.tgz /opt/`, `ADD --unpack ${base}/plain.txt /opt/`, 'ADD --unpack=false local.tgz /keep/', ''].join('\n');
  const r = await build(df);
  assert.is(r.code, 0, r.stderr);
  assert.is(rig.read('out/opt/bin/tool'), 'tool\n', 'the download is unpacked');
  assert.is(rig.read('out/opt/doc.txt'), 'doc\n');
  assert.not.ok(rig.exists('out/opt/pkg.tgz'));
  assert.is(rig.read('out/opt/plain.txt'), 'plain\n', 'not an archive: copied');
  assert.ok(rig.exists('out/keep/local.tgz'), '--unpack=false: the local archive stays whole');
  assert.not.ok(rig.exists('out/keep/doc.txt'));
  // Same sources, other flag: another key, another layer.
  const other = await build(df.replace('ADD --unpack=false local.tgz', 'ADD local.tgz'));
  assert.is(other.code, 0, other.stderr);
  assert.is(stepsDone(other).find((s) => s.index === 4)!.cached, false);
  assert.is(rig.read('out/keep/doc.txt'), 'doc\n');
});

t.test('git URLs and COPY of a URL are refused with a hint', async () => {
  const git = await build(['FROM scratch', 'ADD https://example.invalid/repo.git /src', ''].join('\n'));
  assert.is.not(git.code, 0);
  assert.match(git.stderr, 'adding a git repository is not supported yet');
  assert.match(git.stderr, 'hint: clone it in a RUN');
  const copy = await build(['FROM scratch', `COPY ${base}/x.txt /`, ''].join('\n'));
  assert.is.not(copy.code, 0);
  assert.match(copy.stderr, 'hint: use ADD for a remote file');
});

t.run();
