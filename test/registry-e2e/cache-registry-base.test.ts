/**
 * A registry base under --cache-from is lazy (issue 10), through the real CLI: two stores are
 * two machines, the base is a busybox image in a loopback registry behind a counting proxy,
 * and each RUN appends to a log outside the build (hence --executor=host on both):
 * - B resolves the tag (a manifest GET), plans on the cache's record of the base, hits every
 *   step and downloads no blob of the base for a build with no output; an OCI output brings
 *   the base's blobs from its registry (not unpacked) and equals A's image; an output of
 *   files unpacks them from B's store, asking for none again; the base is then in B's store
 *   under its name, and a build without --cache-from asks no registry;
 * - a tag that now names another manifest is pulled as usual, and the steps on it build;
 * - a cache that claims a wrong layer for the base's blob: a warning, the base is pulled
 *   normally, and the output is right.
 */
import * as assert from 'uvu/assert';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { suite, Rig } from '../util/rig.js';
import { stepsDone, type CliResult } from '../util/cli.js';
import { busyboxBase } from '../util/base-images.js';
import { skopeo, startRegistry, type RunningRegistry, type TestServer } from '../registry/kit.js';
import { startProxy } from './proxy.js';
import { machines } from './machines.js';

const t = suite('registry e2e: a registry base under --cache-from is lazy', { timeoutMs: 240_000 });
let reg: RunningRegistry;
let proxy: TestServer;
let rig: Rig;
let base: string;

const dockerfile = (from: string) => `FROM ${from}
ARG M
COPY a.txt a.txt
RUN ["/bin/sh", "-c", "echo run >> $M/runs.log; cat a.txt > b.txt"]
`;

t.before(async () => {
  reg = await startRegistry();
  proxy = await startProxy(() => reg.host);
  rig = new Rig('stratum-cache-regbase-');
  base = await busyboxBase();
  rig.write({ 'm/.keep': '' });
});
t.after(async () => {
  await proxy?.stop();
  await reg?.stop();
  rig?.cleanup();
});

const { runs, build } = machines(() => rig, { SOURCE_DATE_EPOCH: '1700000000' });
const allCached = (r: CliResult) => stepsDone(r).every((s) => s.cached || s.metadata !== undefined);
const warnings = (r: CliResult) => r.events.flatMap((e) => (e.type === 'warning' ? [e.message] : []));
const requests = (repo: string, kind: 'blobs' | 'manifests') => proxy.seen.filter((r) => r.method === 'GET' && r.url.startsWith(`/v2/${repo}/${kind}/`)).length;
const imageDigest = (dir: string) => (JSON.parse(rig.read(`${dir}/index.json`)) as { manifests: { digest: string }[] }).manifests[0]!.digest;
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

t.test('B hits every step on a registry base it never pulls, downloads none of its blobs without an output, and then has it in its store', async () => {
  await skopeo(['copy', '--dest-tls-verify=false', `oci:${base}:latest`, `docker://${reg.host}/lib/base:1`]);
  const from = `${proxy.host}/lib/base:1`;
  rig.write({ 'ctxA/Dockerfile': dockerfile(from), 'ctxA/a.txt': 'one\n' });
  const a = await build('ctxA', 'storeA', ['--cache-to', `type=registry,ref=${reg.host}/cache/regbase:1,mode=max`, '-o', `type=oci,dest=${rig.path('ociA')},tar=false`]);
  assert.is(a.code, 0, a.stderr);
  assert.equal(runs(), ['run']);
  cpSync(rig.path('ctxA'), rig.path('ctxB'), { recursive: true });
  const cacheFrom = ['--cache-from', `type=registry,ref=${proxy.host}/cache/regbase:1`];

  // No output: every step hits, no RUN runs, and not one blob of the base is asked for.
  const blobs0 = requests('lib/base', 'blobs');
  const manifests0 = requests('lib/base', 'manifests');
  const lazy = await build('ctxB', 'storeB', cacheFrom);
  assert.is(lazy.code, 0, lazy.stderr);
  assert.ok(allCached(lazy), JSON.stringify(stepsDone(lazy)));
  assert.equal(runs(), ['run']);
  assert.is(requests('lib/base', 'blobs') - blobs0, 0, 'a build without output downloaded blobs of the base');
  assert.ok(requests('lib/base', 'manifests') > manifests0, 'the tag was resolved with the registry');
  assert.not.ok(warnings(lazy).some((w) => w.startsWith('pulled')), warnings(lazy).join('\n'));

  // An OCI output needs the base's layers: they come from its registry, and the image is A's.
  const out = await build('ctxB', 'storeB', [...cacheFrom, '-o', `type=oci,dest=${rig.path('ociB')},tar=false`]);
  assert.is(out.code, 0, out.stderr);
  assert.ok(allCached(out), JSON.stringify(stepsDone(out)));
  assert.equal(runs(), ['run']);
  assert.ok(requests('lib/base', 'blobs') > blobs0, 'the output has the base layers');
  assert.is(imageDigest('ociB'), imageDigest('ociA'));

  // The OCI output took the blobs alone (nothing unpacked, so no step key of the cache's went
  // into B's store yet). An output of files unpacks them: from B's store, no blob asked again.
  const blobs1 = requests('lib/base', 'blobs');
  const files = await build('ctxB', 'storeB', [...cacheFrom, '-o', `type=local,dest=${rig.path('filesB')}`]);
  assert.is(files.code, 0, files.stderr);
  assert.ok(allCached(files), JSON.stringify(stepsDone(files)));
  assert.is(requests('lib/base', 'blobs') - blobs1, 0, 'the blobs the OCI output brought were downloaded again');
  assert.is(rig.read('filesB/b.txt'), 'one\n');
  assert.equal(runs(), ['run']);

  // The base is in B's store under its name now: no cache, no request, every step hits.
  const seen = proxy.seen.length;
  const local = await build('ctxB', 'storeB', []);
  assert.is(local.code, 0, local.stderr);
  assert.ok(allCached(local), JSON.stringify(stepsDone(local)));
  assert.is(proxy.seen.length - seen, 0, JSON.stringify(proxy.seen.slice(seen)));
  assert.equal(runs(), ['run']);
});

t.test('a base pinned by digest needs no request to its registry on B', async () => {
  await skopeo(['copy', '--dest-tls-verify=false', `oci:${base}:latest`, `docker://${reg.host}/lib/pinned:1`]);
  const digest = (await skopeo(['inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://${reg.host}/lib/pinned:1`])).trim();
  const from = `${proxy.host}/lib/pinned@${digest}`;
  rig.write({ 'ctxP/Dockerfile': dockerfile(from), 'ctxP/a.txt': 'pinned\n' });
  const a = await build('ctxP', 'storeP', ['--cache-to', `type=local,dest=${rig.path('cacheP')},mode=max`]);
  assert.is(a.code, 0, a.stderr);
  cpSync(rig.path('ctxP'), rig.path('ctxP2'), { recursive: true });
  const seen = proxy.seen.length;
  const b = await build('ctxP2', 'storeP2', ['--cache-from', `type=local,src=${rig.path('cacheP')}`]);
  assert.is(b.code, 0, b.stderr);
  assert.ok(allCached(b), JSON.stringify(stepsDone(b)));
  assert.is(proxy.seen.length - seen, 0, JSON.stringify(proxy.seen.slice(seen)));
});

t.test('a tag that now names another manifest is pulled as usual, and the steps on it build', async () => {
  await skopeo(['copy', '--dest-tls-verify=false', `oci:${base}:latest`, `docker://${reg.host}/lib/moving:1`]);
  const from = `${proxy.host}/lib/moving:1`;
  rig.write({ 'ctxM/Dockerfile': dockerfile(from), 'ctxM/a.txt': 'moving\n' });
  const a = await build('ctxM', 'storeM', ['--cache-to', `type=local,dest=${rig.path('cacheM')},mode=max`]);
  assert.is(a.code, 0, a.stderr);
  const before = runs().length;

  // The tag moves: another image is pushed under it.
  rig.write({ 'ctxV2/Dockerfile': 'FROM scratch\nCOPY v2.txt /v2.txt\n', 'ctxV2/v2.txt': 'v2\n' });
  const v2 = await build('ctxV2', 'storeV2', ['-t', `${reg.host}/lib/moving:1`, '--push']);
  assert.is(v2.code, 0, v2.stderr);

  cpSync(rig.path('ctxM'), rig.path('ctxM2'), { recursive: true });
  const b = await build('ctxM2', 'storeM2', ['--cache-from', `type=local,src=${rig.path('cacheM')}`]);
  assert.is(b.code, 0, b.stderr);
  assert.ok(warnings(b).some((w) => w.includes(`${from} now names manifest`)), warnings(b).join('\n'));
  assert.ok(warnings(b).some((w) => w.startsWith(`pulled ${from}`)), warnings(b).join('\n'));
  const copy = stepsDone(b).find((s) => s.instruction.startsWith('COPY'))!;
  assert.is(copy.cached, false);
  assert.is(copy.reason, 'parent layer changed');
  assert.is(runs().length, before + 1, 'the RUN on the new base ran');
});

t.test('a cache that claims a wrong layer for the base: a warning, the base is pulled normally, and the output is right', async () => {
  await skopeo(['copy', '--dest-tls-verify=false', `oci:${base}:latest`, `docker://${reg.host}/lib/lie:1`]);
  const from = `${proxy.host}/lib/lie:1`;
  rig.write({ 'ctxL/Dockerfile': dockerfile(from), 'ctxL/a.txt': 'lie\n' });
  const a = await build('ctxL', 'storeL', ['--cache-to', `type=local,dest=${rig.path('cacheL')},mode=max`]);
  assert.is(a.code, 0, a.stderr);
  const before = runs().length;

  // Rewrite the cache: the base's first blob is said to unpack to another layer.
  const blob = (d: string) => rig.path(`cacheL/blobs/sha256/${d.slice(7)}`);
  const index = JSON.parse(rig.read('cacheL/index.json')) as { manifests: { digest: string; size: number }[] };
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as { config: { digest: string; size: number } };
  const config = JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8')) as { bases: { ref: string; registry?: { layers: { layer: string }[] } }[] };
  const lied = config.bases.find((x) => x.ref === from)!.registry!;
  lied.layers[0]!.layer = `${'0'.repeat(62)}ff`;
  const write = (bytes: Buffer) => {
    writeFileSync(blob(sha256(bytes)), bytes);
    return { digest: sha256(bytes), size: bytes.length };
  };
  manifest.config = { ...manifest.config, ...write(Buffer.from(JSON.stringify(config))) };
  index.manifests[0] = { ...index.manifests[0]!, ...write(Buffer.from(JSON.stringify(manifest))) };
  writeFileSync(rig.path('cacheL/index.json'), JSON.stringify(index));

  cpSync(rig.path('ctxL'), rig.path('ctxL2'), { recursive: true });
  const b = await build('ctxL2', 'storeL2', ['--cache-from', `type=local,src=${rig.path('cacheL')}`, '-o', `type=local,dest=${rig.path('outL')}`]);
  assert.is(b.code, 0, b.stderr);
  assert.ok(warnings(b).some((w) => w.includes('unpacks to layer')), warnings(b).join('\n'));
  assert.ok(warnings(b).some((w) => w.startsWith(`pulled ${from}`)), warnings(b).join('\n'));
  assert.is(rig.read('outL/b.txt'), 'lie\n');
  assert.ok(existsSync(rig.path('outL/bin/busybox')), 'the base is in the output');
  // Pulled normally, the base has its real layers: the steps hit A's cache on them.
  assert.is(runs().length, before);
});

t.run();
