/** Reference normalization as docker does it, and the pure parsers (challenges, platforms, zstd). */
import * as assert from 'uvu/assert';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { gzipSync } from 'node:zlib';
import { suite } from '../util/rig.js';
import { apiHost, familiarReference, formatReference, isLoopback, parseReference } from '../../engine/registry/reference.js';
import { parseWwwAuthenticate } from '../../engine/registry/www-authenticate.js';
import { choosePlatform, parsePlatform, platformMatches } from '../../engine/registry/platform.js';
import { createDecompress, sniffCompression } from '../../engine/registry/decompress.js';
import { RegistryError } from '../../engine/registry/registry-error.js';
import { layerCompression } from '../../engine/registry/media-types.js';
import { createRegistryClient } from '../../engine/registry/client.js';

const t = suite('registry references and parsers');
const D = `sha256:${'a'.repeat(64)}`;

t.test('normalizes names as docker does', () => {
  const cases: [string, string][] = [
    ['debian', 'docker.io/library/debian:latest'],
    ['debian:bookworm', 'docker.io/library/debian:bookworm'],
    ['user/app', 'docker.io/user/app:latest'],
    ['docker.io/debian', 'docker.io/library/debian:latest'],
    ['index.docker.io/library/debian:12', 'docker.io/library/debian:12'],
    ['localhost/x', 'localhost/x:latest'],
    ['localhost:5000/x', 'localhost:5000/x:latest'],
    ['127.0.0.1:5000/a/b:t', '127.0.0.1:5000/a/b:t'],
    ['registry.example/team/app:1.0', 'registry.example/team/app:1.0'],
    ['[::1]:5000/a', '[::1]:5000/a:latest'],
    [`debian@${D}`, `docker.io/library/debian@${D}`],
    [`debian:12@${D}`, `docker.io/library/debian:12@${D}`],
    ['Registry.Example/a', 'Registry.Example/a:latest'],
    ['a_b/c__d/e-f.g:v_1.2-x', 'docker.io/a_b/c__d/e-f.g:v_1.2-x'],
  ];
  for (const [input, want] of cases) assert.is(formatReference(parseReference(input)), want, input);
});

t.test('splits registry, repository, tag and digest', () => {
  assert.equal(parseReference('127.0.0.1:5000/a/b:t'), { registry: '127.0.0.1:5000', repository: 'a/b', tag: 't' });
  assert.equal(parseReference(`x@${D}`), { registry: 'docker.io', repository: 'library/x', digest: D });
  assert.is(familiarReference(parseReference('debian')), 'debian:latest');
  assert.is(familiarReference(parseReference('user/app:1')), 'user/app:1');
  assert.is(familiarReference(parseReference('localhost:5000/x')), 'localhost:5000/x:latest');
  assert.is(apiHost('docker.io'), 'registry-1.docker.io');
  assert.is(apiHost('localhost:5000'), 'localhost:5000');
});

t.test('rejects malformed references with the reason', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['Debian', /lower-case/],
    ['user/App', /lower-case/],
    ['a:-x', /not a valid tag/],
    [`a@sha512:${'a'.repeat(128)}`, /only sha256/],
    ['a@sha256:abc', /64 lower-case hex/],
    ['a//b', /not a valid repository/],
    ['a/b/', /not a valid repository/],
    [`x/${'a'.repeat(260)}`, /longer than 255/],
  ];
  for (const [input, why] of cases) {
    try {
      parseReference(input);
      assert.unreachable(input);
    } catch (err) {
      assert.instance(err, RegistryError, input);
      const e = err as RegistryError;
      assert.is(e.reason, 'BAD_REFERENCE');
      assert.is(e.exitCode, 2);
      assert.match(e.message, why, input);
      assert.ok(e.hint);
    }
  }
});

t.test('knows loopback hosts', () => {
  for (const h of ['localhost', 'localhost:5000', '127.0.0.1:5000', '127.1.2.3', '[::1]:5000']) assert.ok(isLoopback(h), h);
  for (const h of ['registry.example', '10.0.0.1:5000', 'localhost.example', '[::2]:5000']) assert.not.ok(isLoopback(h), h);
});

t.test('parses WWW-Authenticate challenges', () => {
  assert.equal(parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/debian:pull' } },
  ]);
  assert.equal(parseWwwAuthenticate('Basic realm="Registry Realm"'), [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
  assert.equal(parseWwwAuthenticate('Basic realm="a", Bearer realm="http://x/t", error="insufficient_scope", scope="repository:a:pull,push"'), [
    { scheme: 'basic', params: { realm: 'a' } },
    { scheme: 'bearer', params: { realm: 'http://x/t', error: 'insufficient_scope', scope: 'repository:a:pull,push' } },
  ]);
  assert.equal(parseWwwAuthenticate('Bearer realm="q\\"uote",Service=tok'), [{ scheme: 'bearer', params: { realm: 'q"uote', service: 'tok' } }]);
  assert.equal(parseWwwAuthenticate(''), []);
});

t.test('chooses the platform of an index', () => {
  const d = (architecture: string, variant?: string, os = 'linux') => ({ mediaType: 'x', digest: `${architecture}${variant ?? ''}`, size: 1, platform: { os, architecture, ...(variant ? { variant } : {}) } });
  const index = [d('unknown', undefined, 'unknown'), d('amd64'), d('arm', 'v6'), d('arm', 'v7'), d('arm64', 'v8'), d('s390x')];
  assert.is(choosePlatform(index, parsePlatform('linux/amd64')).digest, 'amd64');
  assert.is(choosePlatform(index, parsePlatform('linux/x86_64')).digest, 'amd64');
  assert.is(choosePlatform(index, parsePlatform('linux/arm64')).digest, 'arm64v8');
  assert.is(choosePlatform(index, parsePlatform('linux/aarch64/v8')).digest, 'arm64v8');
  assert.is(choosePlatform(index, parsePlatform('linux/arm')).digest, 'armv7');
  assert.is(choosePlatform(index, parsePlatform('linux/arm/v6')).digest, 'armv6');
  assert.ok(platformMatches(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64' }));
  try {
    choosePlatform(index, parsePlatform('linux/riscv64'), 'docker.io/library/x:1');
    assert.unreachable();
  } catch (err) {
    const e = err as RegistryError;
    assert.is(e.reason, 'NOT_FOUND');
    assert.match(e.message, /docker.io\/library\/x:1 has no image for linux\/riscv64 \(it has linux\/amd64, linux\/arm\/v6/);
    assert.match(e.hint!, /--platform linux\/amd64/);
  }
  assert.throws(() => parsePlatform('linux'), /invalid platform/);
});

/** A zstd frame of raw (stored) blocks: RFC 8878 §3.1, enough to test the decoder without a tool. */
function zstdRawFrame(data: Buffer, blockSize = 1000): Buffer {
  const parts: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38])]; // magic, FHD (no size, no checksum), window 128 KiB
  for (let off = 0; off < data.length || off === 0; off += blockSize) {
    const block = data.subarray(off, off + blockSize);
    const last = off + blockSize >= data.length ? 1 : 0;
    const h = last | (0 << 1) | (block.length << 3);
    parts.push(Buffer.from([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff]), block);
    if (last) break;
  }
  return Buffer.concat(parts);
}

t.test('decompresses zstd (two frames, chunked input) and gzip layers', async () => {
  const data = Buffer.from('stratum zstd layer '.repeat(500));
  const zst = Buffer.concat([zstdRawFrame(data.subarray(0, 4000)), zstdRawFrame(data.subarray(4000))]);
  assert.is(sniffCompression(zst), 'zstd');
  const pieces = Array.from({ length: Math.ceil(zst.length / 7) }, (_, i) => zst.subarray(i * 7, i * 7 + 7));
  assert.ok((await buffer(Readable.from(pieces).pipe(createDecompress('zstd')))).equals(data));
  const gz = gzipSync(data);
  assert.is(sniffCompression(gz), 'gzip');
  assert.ok((await buffer(Readable.from([gz]).pipe(createDecompress('gzip')))).equals(data));
  assert.is(sniffCompression(data), 'none');
  const bad = await buffer(Readable.from([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff, 0xff, 0xff])]).pipe(createDecompress('zstd'))).then(() => 'decoded', (e: Error) => e.message);
  assert.match(bad, /invalid zstd data/);
  assert.is(layerCompression('application/vnd.oci.image.layer.v1.tar+zstd'), 'zstd');
  assert.is(layerCompression('application/vnd.docker.image.rootfs.diff.tar.gzip'), 'gzip');
  assert.is(layerCompression('application/vnd.oci.image.config.v1+json'), undefined);
});

t.test('uses https:// except for loopback and insecure hosts, through the fetch it is given', async () => {
  const urls: string[] = [];
  const fake = (async (url: string | URL | Request) => {
    urls.push(String(url));
    return new Response(null, { status: 200 });
  }) as typeof fetch;
  await createRegistryClient({ fetch: fake, auth: false }).ping('registry.example:5000');
  await createRegistryClient({ fetch: fake, auth: false }).ping('docker.io');
  await createRegistryClient({ fetch: fake, auth: false }).ping('localhost:5000');
  await createRegistryClient({ fetch: fake, auth: false, insecure: true }).ping('registry.example');
  await createRegistryClient({ fetch: fake, auth: false, insecure: ['other.example:5000'] }).ping('other.example:5000');
  await createRegistryClient({ fetch: fake, auth: false, insecure: ['other.example:5000'] }).ping('third.example');
  assert.equal(urls, [
    'https://registry.example:5000/v2/',
    'https://registry-1.docker.io/v2/',
    'http://localhost:5000/v2/',
    'http://registry.example/v2/',
    'http://other.example:5000/v2/',
    'https://third.example/v2/',
  ]);
});

t.run();
