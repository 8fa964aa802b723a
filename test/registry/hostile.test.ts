/**
 * A scripted registry (node:http on 127.0.0.1) that lies, drops and fails: wrong digests,
 * truncated and stalled bodies (then Range resumes), Range ignored, 500/503/429, 401/403,
 * oversize bodies, schema 1. Every failure must be a RegistryError with the right reason, a
 * message naming registry, repository and digest, and no file at the destination.
 */
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { suite, Rig } from '../util/rig.js';
import { createRegistryClient } from '../../engine/registry/client.js';
import { parseReference } from '../../engine/registry/reference.js';
import { RegistryError } from '../../engine/registry/registry-error.js';
import { freePort, sha256, startServer, type TestServer } from './kit.js';

const t = suite('registry hostile server', { timeoutMs: 30_000 });
let server: TestServer;
let rig: Rig;
let handler: (req: IncomingMessage, res: ServerResponse) => void = (_q, s) => void s.writeHead(404).end();
const blob = Buffer.alloc(200_000, 'stratum-blob-');
const digest = `sha256:${sha256(blob)}`;
const client = () => createRegistryClient({ auth: false, backoffMs: 5, maxBackoffMs: 20, timeoutMs: 400 });

t.before(async () => {
  server = await startServer((req, res) => handler(req, res));
});
t.beforeEach(() => {
  rig = new Rig('stratum-registry-hostile-');
  server.seen.length = 0;
});
t.afterEach(() => rig.cleanup());
t.after(async () => {
  await server?.stop();
});

const repo = () => parseReference(`${server.host}/evil/app:1`);

/** Serve `body` for a blob GET, honouring `Range: bytes=N-` with a 206. */
function serveRange(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
  if (from > 0) res.writeHead(206, { 'content-length': body.length - from, 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` });
  else res.writeHead(200, { 'content-length': body.length });
  res.end(body.subarray(from));
}

/** Send the headers for the whole body, then `n` bytes, then drop the connection. */
function truncate(res: ServerResponse, body: Buffer, n: number, status = 200): void {
  res.writeHead(status, { 'content-length': body.length });
  res.write(body.subarray(0, n), () => setTimeout(() => res.socket?.destroy(), 20));
}

async function fails(p: Promise<unknown>, reason: string, message: RegExp): Promise<RegistryError> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof RegistryError)) throw err;
    assert.is(err.reason, reason, err.message);
    assert.match(err.message, message);
    return err;
  }
  throw new Error(`expected ${reason}`);
}

function nothingLeft(dest: string): void {
  assert.not.ok(existsSync(dest), 'no file at the destination');
  assert.equal(readdirSync(rig.dir), [], 'no temp file left');
}

t.test('rejects a blob whose digest does not match, and writes nothing', async () => {
  const other = Buffer.alloc(blob.length, 'x');
  handler = (_q, res) => void res.writeHead(200, { 'content-length': other.length }).end(other);
  const dest = rig.path('blob');
  await fails(client().fetchBlob(repo(), digest, blob.length, dest), 'DIGEST_MISMATCH', new RegExp(`${server.host}/evil/app@${digest}: the registry sent bytes whose sha256 is ${sha256(other)}`));
  nothingLeft(dest);
});

t.test('rejects a blob longer than its descriptor', async () => {
  const longer = Buffer.concat([blob, Buffer.from('extra')]);
  handler = (_q, res) => void res.writeHead(200).end(longer);
  const dest = rig.path('blob');
  await fails(client().fetchBlob(repo(), digest, blob.length, dest), 'DIGEST_MISMATCH', /sent more than the 200000 bytes/);
  nothingLeft(dest);
});

t.test('resumes a dropped download with Range and verifies the whole', async () => {
  let n = 0;
  handler = (req, res) => (n++ === 0 ? truncate(res, blob, 70_000) : serveRange(req, res, blob));
  const dest = rig.path('blob');
  const got = await client().fetchBlob(repo(), digest, blob.length, dest);
  assert.is(got.size, blob.length);
  assert.ok(readFileSync(dest).equals(blob));
  const ranges = server.seen.map((s) => s.headers.range);
  assert.is(ranges[0], undefined);
  assert.match(ranges[1] ?? '', /^bytes=\d+-$/);
  assert.ok(Number(/\d+/.exec(ranges[1]!)![0]) > 0);
});

t.test('resumes a stalled download after the idle timeout', async () => {
  let n = 0;
  handler = (req, res) => {
    if (n++ > 0) return serveRange(req, res, blob);
    res.writeHead(200, { 'content-length': blob.length });
    res.write(blob.subarray(0, 50_000)); // then nothing: the client must give up waiting
  };
  const dest = rig.path('blob');
  await client().fetchBlob(repo(), digest, blob.length, dest);
  assert.ok(readFileSync(dest).equals(blob));
  assert.is(server.seen.length, 2);
});

t.test('starts over when the server ignores the Range', async () => {
  let n = 0;
  handler = (_q, res) => (n++ === 0 ? truncate(res, blob, 90_000) : void res.writeHead(200, { 'content-length': blob.length }).end(blob));
  const dest = rig.path('blob');
  await client().fetchBlob(repo(), digest, blob.length, dest);
  assert.ok(readFileSync(dest).equals(blob));
});

t.test('gives up with TRUNCATED after a bounded number of resumes', async () => {
  handler = (req, res) => {
    const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
    const rest = blob.subarray(from);
    res.writeHead(from ? 206 : 200, { 'content-length': rest.length, ...(from ? { 'content-range': `bytes ${from}-${blob.length - 1}/${blob.length}` } : {}) });
    res.write(rest.subarray(0, 1000), () => setTimeout(() => res.socket?.destroy(), 10));
  };
  const dest = rig.path('blob');
  await fails(client().fetchBlob(repo(), digest, blob.length, dest), 'TRUNCATED', /gave up after 5 resumes/);
  assert.is(server.seen.length, 6);
  nothingLeft(dest);
});

t.test('retries a 500, then succeeds', async () => {
  let n = 0;
  handler = (req, res) => (n++ < 2 ? void res.writeHead(500).end('boom') : serveRange(req, res, blob));
  await client().fetchBlob(repo(), digest, blob.length, rig.path('blob'));
  assert.is(server.seen.length, 3);
});

t.test('honours 429 and Retry-After, then succeeds', async () => {
  let n = 0;
  handler = (req, res) => (n++ === 0 ? void res.writeHead(429, { 'retry-after': '0' }).end() : serveRange(req, res, blob));
  await client().fetchBlob(repo(), digest, blob.length, rig.path('blob'));
  assert.is(server.seen.length, 2);
});

t.test('stops retrying a failing registry (UNAVAILABLE, bounded)', async () => {
  handler = (_q, res) => void res.writeHead(503).end();
  const dest = rig.path('blob');
  await fails(client().fetchBlob(repo(), digest, blob.length, dest), 'UNAVAILABLE', new RegExp(`${server.host}/evil/app@${digest}: the registry answered HTTP 503`));
  assert.is(server.seen.length, 4);
  nothingLeft(dest);
});

t.test('maps 401 without a challenge, 403 and 404', async () => {
  handler = (_q, res) => void res.writeHead(401).end();
  const e = await fails(client().fetchBlob(repo(), digest, blob.length, rig.path('b')), 'UNAUTHORIZED', /HTTP 401/);
  assert.is(e.exitCode, 3);
  handler = (_q, res) => void res.writeHead(403, { 'content-type': 'application/json' }).end('{"errors":[{"code":"DENIED","message":"no"}]}');
  await fails(client().getManifest(repo()), 'DENIED', /evil\/app: fetching manifest 1: HTTP 403 \(DENIED: no\)/);
  handler = (_q, res) => void res.writeHead(404).end();
  await fails(client().fetchBlob(repo(), digest, blob.length, rig.path('b')), 'NOT_FOUND', /HTTP 404/);
});

t.test('rejects manifests that do not match their digest', async () => {
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'x', digest, size: 1 }, layers: [] }));
  const wrong = `sha256:${'0'.repeat(64)}`;
  handler = (_q, res) => void res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(manifest);
  await fails(client().getManifest(parseReference(`${server.host}/evil/app@${wrong}`)), 'DIGEST_MISMATCH', /sent a manifest whose sha256 is/);
  handler = (_q, res) => void res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': wrong }).end(manifest);
  await fails(client().getManifest(repo()), 'DIGEST_MISMATCH', /Docker-Content-Digest says sha256:0000/);
  // An index whose child does not match the index's descriptor.
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${sha256(manifest)}`, size: manifest.length + 1, platform: { os: 'linux', architecture: 'amd64' } }] }));
  handler = (req, res) => void res.writeHead(200).end(req.url!.includes('sha256:') ? manifest : index);
  await fails(client().getManifest(repo(), { platform: { os: 'linux', architecture: 'amd64' } }), 'DIGEST_MISMATCH', /the index names/);
  handler = (_q, res) => void res.writeHead(200).end('{"schemaVersion":1,"name":"evil/app"}');
  await fails(client().getManifest(repo()), 'UNSUPPORTED', /schema 1/);
  handler = (_q, res) => void res.writeHead(200).end('not json');
  await fails(client().getManifest(repo()), 'PROTOCOL', /not JSON/);
});

/** An in-memory upload endpoint; `patch` decides what happens to each PATCH. */
function uploads(patch: (n: number, req: IncomingMessage, res: ServerResponse, body: Buffer, held: Buffer[]) => boolean) {
  const held: Buffer[] = [];
  let patches = 0;
  let stored: Buffer | undefined;
  const h = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const size = () => held.reduce((a, b) => a + b.length, 0);
    if (req.method === 'HEAD') return void res.writeHead(404).end();
    if (req.method === 'POST') return void res.writeHead(202, { location: '/v2/evil/app/blobs/uploads/u1', 'content-length': 0 }).end();
    if (req.method === 'GET' && url.pathname.endsWith('/u1')) return void res.writeHead(204, { range: `0-${size() - 1}`, location: '/v2/evil/app/blobs/uploads/u1' }).end();
    if (req.method === 'PATCH') {
      const start = Number(/^(\d+)-/.exec(req.headers['content-range'] ?? '')?.[1]);
      if (start !== size()) return void res.writeHead(416).end();
      if (!patch(patches++, req, res, body, held)) return;
      held.push(body);
      return void res.writeHead(202, { location: '/v2/evil/app/blobs/uploads/u1', range: `0-${size() - 1}` }).end();
    }
    if (req.method === 'PUT') {
      stored = Buffer.concat([...held, body]);
      const d = `sha256:${sha256(stored)}`;
      if (d !== url.searchParams.get('digest')) return void res.writeHead(400, { 'content-type': 'application/json' }).end('{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}');
      return void res.writeHead(201, { 'docker-content-digest': d }).end();
    }
    res.writeHead(405).end();
  };
  return { handler: h, stored: () => stored };
}

t.test('goes on with a chunked upload after a chunk is dropped half-way', async () => {
  const up = uploads((n, _q, res, body, held) => {
    if (n !== 1) return true;
    held.push(body.subarray(0, 10_000)); // half of it landed, then the connection died
    res.socket?.destroy();
    return false;
  });
  const fake = await startServer(up.handler);
  try {
    const r = await client().putBlob(parseReference(`${fake.host}/evil/app`), { bytes: blob }, digest, blob.length, { chunkSize: 50_000 });
    assert.is(r.how, 'uploaded');
    assert.ok(up.stored()?.equals(blob), 'the registry holds exactly the blob');
    assert.ok(fake.seen.some((s) => s.method === 'GET' && s.url.endsWith('/u1')), 'asked where the upload stood');
  } finally {
    await fake.stop();
  }
});

t.test('a chunk answered with 500 is recovered through the upload status, and a wrong digest is DIGEST_MISMATCH', async () => {
  const up = uploads((n, _q, res) => {
    if (n !== 2) return true;
    res.writeHead(500).end();
    return false;
  });
  const fake = await startServer(up.handler);
  try {
    await client().putBlob(parseReference(`${fake.host}/evil/app`), { bytes: blob }, digest, blob.length, { chunkSize: 40_000 });
    assert.ok(up.stored()?.equals(blob));
    const lie = Buffer.from(blob);
    lie[5] = 0;
    await fails(client().putBlob(parseReference(`${fake.host}/evil/app`), { bytes: lie }, digest, lie.length, { chunked: false }), 'DIGEST_MISMATCH', /found other bytes than the digest names/);
  } finally {
    await fake.stop();
  }
});

t.test('retries a manifest PUT answered with 502', async () => {
  let n = 0;
  handler = (_q, res) => void (n++ === 0 ? res.writeHead(502).end() : res.writeHead(201).end());
  const bytes = Buffer.from('{"schemaVersion":2}');
  assert.is(await client().putManifest(repo(), 'application/vnd.oci.image.manifest.v1+json', bytes), `sha256:${sha256(bytes)}`);
  assert.is(server.seen.length, 2);
});

t.test('follows a blob redirect to another origin (object storage) without sending it the credentials', async () => {
  const storage = await startServer((req, res) => serveRange(req, res, blob));
  try {
    handler = (req, res) => {
      if (!req.headers.authorization) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="evil"' }).end();
      res.writeHead(307, { location: `http://${storage.host}/bucket/blob?sig=1` }).end();
    };
    const dest = rig.path('blob');
    const got = await createRegistryClient({ auth: { username: 'u', password: 'p' }, backoffMs: 5, timeoutMs: 2000 }).fetchBlob(repo(), digest, blob.length, dest);
    assert.is(got.size, blob.length);
    assert.ok(readFileSync(dest).equals(blob));
    assert.match(server.seen.at(-1)!.headers.authorization ?? '', /^Basic /, 'the registry got the credentials');
    assert.is(storage.seen.length, 1);
    assert.is(storage.seen[0]!.url, '/bucket/blob?sig=1');
    assert.is(storage.seen[0]!.headers.authorization, undefined, 'the other origin did not');
  } finally {
    await storage.stop();
  }
});

t.test('reports an unreachable registry by name', async () => {
  const port = await freePort();
  const e = await fails(createRegistryClient({ auth: false, backoffMs: 1, attempts: 2 }).getManifest(parseReference(`127.0.0.1:${port}/a/b:1`)), 'UNREACHABLE', new RegExp(`127\\.0\\.0\\.1:${port}/a/b: cannot reach http://127\\.0\\.0\\.1:${port}`));
  assert.match(e.hint!, /network/);
});

t.run();
