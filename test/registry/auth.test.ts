/**
 * Authentication: Debian's registry behind htpasswd (basic auth), credentials from docker's
 * config (auths, credHelpers through a docker-credential-* script), the login helper, and the
 * bearer-token flow through a token service and an auth proxy (node:http) in front of a
 * second, open registry.
 */
import * as assert from 'uvu/assert';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { suite, Rig } from '../util/rig.js';
import { createRegistryClient } from '../../engine/registry/client.js';
import { lookupCredentials } from '../../engine/registry/docker-config.js';
import { login } from '../../engine/registry/login.js';
import { parseReference } from '../../engine/registry/reference.js';
import { RegistryError } from '../../engine/registry/registry-error.js';
import { makeImage, sha256, startRegistry, startServer, type RunningRegistry, type TestImage, type TestServer } from './kit.js';

const t = suite('registry auth', { timeoutMs: 120_000 });
const USER = { username: 'alice', password: 's3cret-pw' };
let basic: RunningRegistry;
let open: RunningRegistry;
let tokenServer: TestServer;
let proxy: TestServer;
let rig: Rig;
/** Token → the scopes it grants. */
const tokens = new Map<string, Set<string>>();
let tokenRequests = 0;

function forward(req: Parameters<Parameters<typeof startServer>[0]>[0], res: Parameters<Parameters<typeof startServer>[0]>[1], body: Buffer, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
      up.on('end', resolve);
    });
    out.on('error', reject);
    out.end(body);
  });
}

t.before(async () => {
  rig = new Rig('stratum-registry-auth-');
  basic = await startRegistry({ basicAuth: USER });
  open = await startRegistry();
  tokenServer = await startServer((req, res, body) => {
    tokenRequests++;
    const url = new URL(req.url ?? '/', 'http://x');
    let scopes: string[];
    if (req.method === 'POST') {
      const form = new URLSearchParams(body.toString());
      if (form.get('grant_type') !== 'refresh_token' || form.get('refresh_token') !== 'refresh-me') return void res.writeHead(401).end();
      scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
    } else {
      const auth = req.headers.authorization ?? '';
      if (auth !== `Basic ${Buffer.from(`${USER.username}:${USER.password}`).toString('base64')}`) return void res.writeHead(401).end('{"details":"bad credentials"}');
      scopes = url.searchParams.getAll('scope');
    }
    if (url.searchParams.get('service') !== 'stratum-test' && req.method === 'GET') return void res.writeHead(400).end();
    const token = `tok-${tokens.size + 1}`;
    tokens.set(token, new Set(scopes));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(req.method === 'POST' ? { access_token: token, expires_in: 300 } : { token, expires_in: 300 }));
  });
  proxy = await startServer(async (req, res, body) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const m = /^\/v2\/(.+?)\/(manifests|blobs|tags)\//.exec(path);
    const repo = m?.[1];
    const action = req.method === 'GET' || req.method === 'HEAD' ? 'pull' : 'push';
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const granted = token ? tokens.get(token) : undefined;
    const needed = repo ? `repository:${repo}:${action}` : undefined;
    const ok = granted && (!needed || [...granted].some((s) => s.startsWith(`repository:${repo}:`) && s.split(':')[2]!.split(',').includes(action)));
    if (!ok) {
      const scope = needed ? `,scope="${needed.replace(':push', ':pull,push')}"` : '';
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${tokenServer.host}/token",service="stratum-test"${scope}`, 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
    }
    if (repo?.startsWith('forbidden/')) return void res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] }));
    await forward(req, res, body, open.port);
  });
});
t.after(async () => {
  await basic?.stop();
  await open?.stop();
  await tokenServer?.stop();
  await proxy?.stop();
  rig?.cleanup();
});

async function roundTrip(client: ReturnType<typeof createRegistryClient>, name: string, img: TestImage): Promise<void> {
  const ref = parseReference(name);
  await client.putBlob(ref, { bytes: img.config }, `sha256:${sha256(img.config)}`, img.config.length);
  for (const l of img.layers) await client.putBlob(ref, { bytes: l.blob }, l.digest, l.size);
  assert.is(await client.putManifest(ref, 'application/vnd.oci.image.manifest.v1+json', img.manifest), img.manifestDigest);
  const m = await client.getManifest(ref);
  assert.is(m.digest, img.manifestDigest);
  const l = m.manifest.layers[0]!;
  await client.fetchBlob(ref, l.digest, l.size, rig.path(`${sha256(name)}.blob`));
}

async function rejects(p: Promise<unknown>, reason: string, message: RegExp): Promise<RegistryError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, RegistryError);
    const e = err as RegistryError;
    assert.is(e.reason, reason, e.message);
    assert.match(e.message, message);
    assert.ok(e.hint);
    return e;
  }
  throw new Error(`expected ${reason}`);
}

t.test('basic auth: anonymous and wrong credentials are UNAUTHORIZED, naming the repository', async () => {
  const anon = createRegistryClient({ auth: false });
  assert.equal(await anon.ping(basic.host), { authorized: false, auth: 'basic' });
  const e = await rejects(anon.getManifest(parseReference(`${basic.host}/team/app:1`)), 'UNAUTHORIZED', new RegExp(`${basic.host}/team/app: fetching manifest 1: HTTP 401`));
  assert.match(e.hint!, /log in/);
  const wrong = createRegistryClient({ auth: { username: 'alice', password: 'nope' } });
  assert.equal(await wrong.ping(basic.host), { authorized: false, auth: 'basic' });
  await rejects(wrong.getManifest(parseReference(`${basic.host}/team/app:1`)), 'UNAUTHORIZED', /HTTP 401/);
});

t.test('basic auth: credentials from ~/.docker/config.json auths', async () => {
  const configPath = rig.path('auths', 'config.json');
  rig.write({ 'auths/config.json': JSON.stringify({ auths: { [`http://${basic.host}/v2/`]: { auth: Buffer.from(`${USER.username}:${USER.password}`).toString('base64') } } }) });
  assert.equal(await lookupCredentials(basic.host, { configPath }), USER);
  const client = createRegistryClient({ dockerConfig: { configPath } });
  assert.equal(await client.ping(basic.host), { authorized: true, auth: 'basic' });
  await roundTrip(client, `${basic.host}/team/basic:1`, await makeImage({ 'basic.txt': 'basic auth' }));
});

t.test('login checks the password, then writes docker\'s config (0600, other keys kept)', async () => {
  const configPath = rig.path('login', 'config.json');
  rig.write({ 'login/config.json': JSON.stringify({ auths: { 'other.example': { auth: 'eDp5' } }, psFormat: 'table' }) });
  await rejects(login(basic.host, 'alice', 'wrong', { dockerConfig: { configPath } }), 'UNAUTHORIZED', /login as alice was refused/);
  assert.not.match(readFileSync(configPath, 'utf8'), new RegExp(basic.host), 'a refused login writes nothing');
  await login(basic.host, USER.username, USER.password, { dockerConfig: { configPath } });
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as { auths: Record<string, { auth: string }>; psFormat: string };
  assert.is(config.psFormat, 'table');
  assert.is(config.auths['other.example']!.auth, 'eDp5');
  assert.is(Buffer.from(config.auths[basic.host]!.auth, 'base64').toString(), `${USER.username}:${USER.password}`);
  assert.is(statSync(configPath).mode & 0o777, 0o600);
  const client = createRegistryClient({ dockerConfig: { configPath } });
  assert.equal(await client.ping(basic.host), { authorized: true, auth: 'basic' });
  // Docker Hub is filed under its historic key.
  await login('docker.io', 'hubuser', 'hubpw', { dockerConfig: { configPath }, skipVerify: true });
  assert.ok((JSON.parse(readFileSync(configPath, 'utf8')) as { auths: Record<string, unknown> }).auths['https://index.docker.io/v1/']);
  assert.equal(await lookupCredentials('docker.io', { configPath }), { username: 'hubuser', password: 'hubpw' });
});

t.test('credential helpers: credHelpers and credsStore through docker-credential-*', async () => {
  const bin = rig.path('bin');
  const store = rig.path('helper-store.json');
  rig.write({
    'bin/docker-credential-fake': `#!/bin/sh\ncase "$1" in\n  get) read server; if [ -f "${store}" ]; then cat "${store}"; else echo "credentials not found in native keychain"; exit 1; fi ;;\n  store) cat > "${store}" ;;\n  *) exit 1 ;;\nesac\n`,
  });
  chmodSync(rig.path('bin/docker-credential-fake'), 0o755);
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` };
  const configPath = rig.path('helpers', 'config.json');
  rig.write({ 'helpers/config.json': JSON.stringify({ credHelpers: { [basic.host]: 'fake' } }) });
  assert.is(await lookupCredentials(basic.host, { configPath, env }), undefined, 'helper says not found');
  await login(basic.host, USER.username, USER.password, { dockerConfig: { configPath, env } });
  assert.equal(JSON.parse(readFileSync(store, 'utf8')), { ServerURL: basic.host, Username: USER.username, Secret: USER.password });
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as { auths: Record<string, object> };
  assert.equal(config.auths[basic.host], {}, 'no secret in the file itself');
  assert.equal(await lookupCredentials(basic.host, { configPath, env }), USER);
  assert.equal(await createRegistryClient({ dockerConfig: { configPath, env } }).ping(basic.host), { authorized: true, auth: 'basic' });
  // credsStore serves every registry; a helper that is not installed falls back to auths.
  writeFileSync(configPath, JSON.stringify({ credsStore: 'fake' }));
  assert.equal(await lookupCredentials('any.example', { configPath, env }), USER);
  writeFileSync(configPath, JSON.stringify({ credsStore: 'missing-helper', auths: { 'x.example': { auth: Buffer.from('u:p').toString('base64') } } }));
  assert.equal(await lookupCredentials('x.example', { configPath, env }), { username: 'u', password: 'p' });
});

t.test('bearer tokens: realm, service and scope from the challenge; one token per scope set', async () => {
  const client = createRegistryClient({ auth: USER });
  tokenRequests = 0;
  await roundTrip(client, `${proxy.host}/team/tokened:1`, await makeImage({ 'token.txt': 'bearer' }));
  assert.ok(tokenRequests >= 1 && tokenRequests <= 3, `${tokenRequests} token requests`);
  const scopes = [...tokens.values()].flatMap((s) => [...s]);
  assert.ok(scopes.includes('repository:team/tokened:pull,push'), scopes.join(' '));
  const before = tokenRequests;
  await client.getManifest(parseReference(`${proxy.host}/team/tokened:1`));
  await client.getManifest(parseReference(`${proxy.host}/team/tokened:1`));
  assert.ok(tokenRequests - before <= 1, 'tokens are cached');
});

t.test('bearer tokens: a mount asks for pull on the source repository too', async () => {
  const client = createRegistryClient({ auth: USER });
  const img = await makeImage({ 'mount.txt': 'through the proxy' });
  const l = img.layers[0]!;
  await client.putBlob(parseReference(`${proxy.host}/team/src`), { bytes: l.blob }, l.digest, l.size);
  const r = await client.putBlob(parseReference(`${proxy.host}/team/dst`), { bytes: l.blob }, l.digest, l.size, { mountFrom: 'team/src' });
  assert.is(r.how, 'mounted');
  const granted = [...tokens.values()].find((s) => s.has('repository:team/src:pull') && s.has('repository:team/dst:pull,push'));
  assert.ok(granted, 'one token for both scopes');
});

t.test('bearer tokens: an identity token is exchanged with grant_type=refresh_token', async () => {
  const client = createRegistryClient({ auth: { identityToken: 'refresh-me' } });
  const img = await makeImage({ 'refresh.txt': 'oauth2' });
  await roundTrip(client, `${proxy.host}/team/refreshed:1`, img);
});

t.test('bearer tokens: refused credentials are UNAUTHORIZED, a 403 is DENIED', async () => {
  await rejects(createRegistryClient({ auth: { username: 'alice', password: 'bad' } }).getManifest(parseReference(`${proxy.host}/team/tokened:1`)), 'UNAUTHORIZED', /token service http:\/\/127\.0\.0\.1:\d+ refused the credentials \(HTTP 401\)/);
  await rejects(createRegistryClient({ auth: USER }).getManifest(parseReference(`${proxy.host}/forbidden/x:1`)), 'DENIED', /forbidden\/x: fetching manifest 1: HTTP 403 \(DENIED: requested access to the resource is denied\)/);
});

t.run();
