/**
 * FROM a registry that fails, through the real CLI: a scripted registry (node:http) serving a
 * small image that lies about a layer, drops every download half-way, or refuses (401, 403),
 * and one that is not there at all. Each build fails with a message naming the registry, the
 * repository and (for a blob) the digest, and the store holds nothing of the image. Also
 * `stratum login` against a registry behind basic auth, and a pull with those credentials.
 */
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { suite, Rig } from '../util/rig.js';
import { CLI, runCli } from '../util/cli.js';
import { busyboxBase } from '../util/base-images.js';
import { makeImage, skopeo, startRegistry, startServer, type TestImage, type TestServer } from '../registry/kit.js';

const t = suite('registry e2e: failures and auth', { timeoutMs: 180_000 });
let rig: Rig;
let server: TestServer;
let image: TestImage;
let mode: 'good' | 'bad-layer' | 'truncate' | '401' | '403' = 'good';

t.before(async () => {
  rig = new Rig('stratum-reg-fail-');
  image = await makeImage({ 'hello.txt': 'hello from a scripted registry\n' });
  server = await startServer((req, res) => {
    const url = req.url ?? '';
    if (mode === '401') return void res.writeHead(401).end();
    if (mode === '403') return void res.writeHead(403).end();
    if (url === '/v2/') return void res.writeHead(200).end();
    if (url.startsWith('/v2/evil/app/manifests/')) {
      return void res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': image.manifestDigest, 'content-length': image.manifest.length }).end(req.method === 'HEAD' ? undefined : image.manifest);
    }
    const blob = /\/v2\/evil\/app\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url)?.[1];
    const layer = image.layers[0]!;
    const body = blob === layer.digest ? layer.blob : blob === `sha256:${sha(image.config)}` ? image.config : undefined;
    if (!body) return void res.writeHead(404).end();
    if (blob === layer.digest && mode === 'bad-layer') {
      const evil = Buffer.from(body);
      evil[evil.length - 9] = (evil[evil.length - 9] ?? 0) ^ 0xff;
      return void res.writeHead(200, { 'content-length': evil.length }).end(evil);
    }
    if (blob === layer.digest && mode === 'truncate') {
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, body.length >> 1));
      return void res.destroy();
    }
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  rig.write({ 'ctx/Dockerfile': `FROM ${server.host}/evil/app:1\nCOPY a.txt /a.txt\n`, 'ctx/a.txt': 'a' });
});
t.after(async () => {
  await server?.stop();
  rig?.cleanup();
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Every file name under `dir`. */
function files(dir: string): string[] {
  let out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  for (const n of names) {
    const p = join(dir, n);
    out = statSync(p).isDirectory() ? out.concat(files(p)) : out.concat(n);
  }
  return out;
}

const build = (store: string) => runCli(['build', '--progress=plain', '--cache-dir', rig.path(store), rig.path('ctx')]);

for (const [m, expect] of [
  ['bad-layer', 'sha256'],
  ['truncate', ''],
  ['401', 'HTTP 401'],
  ['403', 'HTTP 403'],
] as const) {
  t.test(`a registry answering ${m} fails the build clearly and stores nothing`, async () => {
    mode = m;
    const r = await build(`store-${m}`);
    assert.is.not(r.code, 0);
    assert.match(r.stderr, `${server.host}/evil/app`);
    if (expect) assert.match(r.stderr, expect);
    if (m === 'bad-layer' || m === 'truncate') assert.match(r.stderr, image.layers[0]!.digest);
    const names = files(rig.path(`store-${m}`));
    assert.not.ok(names.some((n) => n.includes(image.layers[0]!.digest.slice(7))), 'no blob of the layer is in the store');
    const images = await runCli(['images', '--cache-dir', rig.path(`store-${m}`)]);
    assert.not.match(images.stdout, 'evil/app');
  });
}

t.test('the same registry serving the right bytes: the build works, and the second does not ask', async () => {
  mode = 'good';
  const r = await build('store-good');
  assert.is(r.code, 0, r.stderr);
  const seen = server.seen.length;
  const r2 = await build('store-good');
  assert.is(r2.code, 0, r2.stderr);
  assert.is(server.seen.length, seen);
  // --pull asks again.
  const r3 = await runCli(['build', '--progress=plain', '--pull', '--cache-dir', rig.path('store-good'), rig.path('ctx')]);
  assert.is(r3.code, 0, r3.stderr);
  assert.ok(server.seen.length > seen);
});

t.test('stratum login saves credentials that FROM then uses', async () => {
  const reg = await startRegistry({ basicAuth: { username: 'ci', password: 's3cret' } });
  try {
    await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'ci:s3cret', `oci:${await busyboxBase()}:latest`, `docker://${reg.host}/private/busybox:latest`]);
    rig.write({ 'priv/Dockerfile': `FROM ${reg.host}/private/busybox:latest\nCOPY a.txt /a.txt\n`, 'priv/a.txt': 'p' });
    const env = { DOCKER_CONFIG: rig.path('docker-config') };
    const denied = await runCli(['build', '--progress=plain', '--cache-dir', rig.path('store-priv'), rig.path('priv')], { env });
    assert.is.not(denied.code, 0);
    assert.match(denied.stderr, `${reg.host}/private/busybox`);
    const login = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn(process.execPath, [CLI, 'login', reg.host, '-u', 'ci', '--password-stdin'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.stderr.on('data', (d) => (out += d));
      c.on('close', (code) => resolve({ code, out }));
      c.stdin.end('s3cret\n');
    });
    assert.is(login.code, 0, login.out);
    assert.match(login.out, 'Login Succeeded');
    const ok = await runCli(['build', '--progress=plain', '--cache-dir', rig.path('store-priv'), rig.path('priv')], { env });
    assert.is(ok.code, 0, ok.stderr);
  } finally {
    await reg.stop();
  }
});

t.run();
