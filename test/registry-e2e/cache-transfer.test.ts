/**
 * The step cache across machines, through the real CLI: two stores are two machines. A builds
 * with --cache-to (a loopback registry, or an OCI layout directory), B builds a fresh copy of
 * the context with --cache-from: every step hits and no RUN runs (each RUN appends to a log
 * outside the build, hence --executor=host on both), no layer blob is downloaded by a build
 * without output, and a change on B is explained against A's build.
 */
import * as assert from 'uvu/assert';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { suite, Rig } from '../util/rig.js';
import { buildDone, runCli, stepsDone } from '../util/cli.js';
import { skopeo, startRegistry, type RunningRegistry, type TestServer } from '../registry/kit.js';
import { startProxy } from './proxy.js';
import { machines } from './machines.js';

const t = suite('registry e2e: cache export and import', { timeoutMs: 180_000 });
let reg: RunningRegistry;
let proxy: TestServer;
let rig: Rig;

const DOCKERFILE = `FROM scratch AS dep
ARG M
RUN ["/bin/sh", "-c", "echo dep >> $M/runs.log; echo dep > dep.txt"]
FROM scratch
ARG M
COPY a.txt /a.txt
RUN ["/bin/sh", "-c", "echo final >> $M/runs.log; cat a.txt > b.txt"]
COPY --from=dep dep.txt /dep.txt
`;

t.before(async () => {
  reg = await startRegistry();
  rig = new Rig('stratum-cache-e2e-');
  // A counting proxy in front of the registry: machine B reads the cache through it.
  proxy = await startProxy(() => reg.host);
});
t.after(async () => {
  await proxy?.stop();
  await reg?.stop();
  rig?.cleanup();
});

const { runs, build } = machines(() => rig);
const blobGets = () => proxy.seen.filter((r) => r.method === 'GET' && r.url.includes('/blobs/')).length;

t.test('machine B hits every step of machine A through a registry cache (mode=max) and runs nothing', async () => {
  rig.write({ 'ctxA/Dockerfile': DOCKERFILE, 'ctxA/a.txt': 'one\n', 'm/.keep': '' });
  const a = await build('ctxA', 'storeA', ['--cache-to', `type=registry,ref=${reg.host}/cache/app:buildcache,mode=max`]);
  assert.is(a.code, 0, a.stderr);
  assert.equal(runs(), ['dep', 'final']);

  cpSync(rig.path('ctxA'), rig.path('ctxB'), { recursive: true });
  const ref = `type=registry,ref=${proxy.host}/cache/app:buildcache`;
  const b = await build('ctxB', 'storeB', ['--cache-from', ref]);
  assert.is(b.code, 0, b.stderr);
  assert.ok(stepsDone(b).every((s) => s.cached || s.metadata !== undefined), JSON.stringify(stepsDone(b)));
  assert.equal(runs(), ['dep', 'final']);
  // COPY --from=dep is keyed by dep's files and looks at the layers below its destination:
  // those came in (config + 3 layers); the next test shows a chain that needs none.
  assert.is(blobGets(), 4);

  // With an output the layers come in, verified, and the result is A's.
  const b2 = await build('ctxB', 'storeB', ['--cache-from', ref, '-o', `type=local,dest=${rig.path('outB')}`]);
  assert.is(b2.code, 0, b2.stderr);
  assert.ok(stepsDone(b2).every((s) => s.cached || s.metadata !== undefined));
  assert.is(rig.read('outB/b.txt'), 'one\n');
  assert.is(rig.read('outB/dep.txt'), 'dep\n');
  assert.equal(runs(), ['dep', 'final']);
  assert.ok(blobGets() > 1);
  // The layers are in B's store now, with their keys: the next build hits locally.
  const before = proxy.seen.length;
  const b3 = await build('ctxB', 'storeB', []);
  assert.ok(stepsDone(b3).every((s) => s.cached || s.metadata !== undefined));
  assert.is(proxy.seen.length, before);
});

t.test('a build whose every step hits and has no output downloads no layer blob', async () => {
  rig.write({ 'lazyA/Dockerfile': 'FROM scratch\nARG M\nCOPY a.txt /a.txt\nRUN ["/bin/sh", "-c", "echo lazy >> $M/runs.log; cat a.txt > b.txt"]\n', 'lazyA/a.txt': 'lazy\n' });
  const a = await build('lazyA', 'storeLazyA', ['--cache-to', `type=registry,ref=${reg.host}/cache/lazy:1,mode=max`]);
  assert.is(a.code, 0, a.stderr);
  const n = runs().length;
  cpSync(rig.path('lazyA'), rig.path('lazyB'), { recursive: true });
  const gets = blobGets();
  const b = await build('lazyB', 'storeLazyB', ['--cache-from', `type=registry,ref=${proxy.host}/cache/lazy:1`]);
  assert.is(b.code, 0, b.stderr);
  assert.ok(stepsDone(b).every((s) => s.cached || s.metadata !== undefined));
  assert.is(runs().length, n);
  // The manifest and the cache's config, nothing else.
  assert.is(blobGets() - gets, 1);
  // stratum plan predicts the same hits from the cache.
  const p = await runCli(['plan', '--executor=host', '--build-arg', `M=${rig.path('m')}`, '--cache-dir', rig.path('storeLazyB'), '--cache-from', `type=registry,ref=${proxy.host}/cache/lazy:1`, rig.path('lazyB')]);
  assert.is(p.code, 0, p.stderr);
  assert.match(p.stdout, /RUN \[.*CACHED/);
  assert.not.match(p.stdout, 'RUN:');
});

t.test('a change on machine B is explained against machine A\'s build', async () => {
  cpSync(rig.path('ctxA'), rig.path('ctxC'), { recursive: true });
  rig.write({ 'ctxC/a.txt': 'two\n' });
  const n = runs().length;
  const c = await build('ctxC', 'storeC', ['--cache-from', `type=registry,ref=${reg.host}/cache/app:buildcache`, '-o', `type=local,dest=${rig.path('outC')}`]);
  assert.is(c.code, 0, c.stderr);
  const steps = stepsDone(c);
  const copy = steps.find((s) => s.instruction === 'COPY a.txt /a.txt')!;
  assert.is(copy.cached, false);
  assert.match(copy.reason ?? '', 'a.txt');
  assert.is.not((copy as { why?: { kind: string } }).why?.kind, 'first-build');
  // The dep stage still hits; only the final RUN runs again.
  assert.equal(runs().slice(n), ['final']);
  assert.is(rig.read('outC/b.txt'), 'two\n');
  assert.is(rig.read('outC/dep.txt'), 'dep\n');
});

t.test('the same through an OCI layout directory (type=local), and mode=min leaves other stages out', async () => {
  rig.write({ 'ctxL/Dockerfile': DOCKERFILE, 'ctxL/a.txt': 'local\n' });
  const a = await build('ctxL', 'storeLA', ['--cache-to', `type=local,dest=${rig.path('cache-max')},mode=max`, '--cache-to', `type=local,dest=${rig.path('cache-min')},mode=min`]);
  assert.is(a.code, 0, a.stderr);
  assert.equal(runs().slice(-2), ['dep', 'final']);
  const n = runs().length;
  cpSync(rig.path('ctxL'), rig.path('ctxL2'), { recursive: true });
  const b = await build('ctxL2', 'storeLB', ['--cache-from', `type=local,src=${rig.path('cache-max')}`, '-o', `type=local,dest=${rig.path('outL')}`]);
  assert.is(b.code, 0, b.stderr);
  assert.ok(stepsDone(b).every((s) => s.cached || s.metadata !== undefined));
  assert.is(runs().length, n);
  assert.is(rig.read('outL/b.txt'), 'local\n');
  // mode=min holds the final image's steps only: the dep stage's RUN runs on machine B.
  const m = await build('ctxL2', 'storeLC', ['--cache-from', `type=local,src=${rig.path('cache-min')}`]);
  assert.is(m.code, 0, m.stderr);
  assert.equal(runs().slice(n), ['dep']);

  // A cache whose layer blobs are gone: the keys are found, the blobs are not, the steps build.
  cpSync(rig.path('cache-max'), rig.path('cache-broken'), { recursive: true });
  const index = JSON.parse(rig.read('cache-broken/index.json')) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(rig.read(`cache-broken/blobs/sha256/${index.manifests[0]!.digest.slice(7)}`)) as { layers: { digest: string }[] };
  for (const l of manifest.layers) rmSync(rig.path(`cache-broken/blobs/sha256/${l.digest.slice(7)}`));
  const k = runs().length;
  const broken = await build('ctxL2', 'storeLD', ['--cache-from', `type=local,src=${rig.path('cache-broken')}`, '-o', `type=local,dest=${rig.path('outD')}`]);
  assert.is(broken.code, 0, broken.stderr);
  assert.equal(runs().slice(k).sort(), ['dep', 'final']);
  assert.is(rig.read('outD/b.txt'), 'local\n');
});

/** The store's blob of sha256 `hex`, or undefined. */
const storeBlob = (store: string, hex: string) => {
  const p = rig.path(`${store}/blobs-v2/${hex.slice(0, 2)}/${hex}`);
  return existsSync(p) ? p : undefined;
};

t.test('with an OCI output, a layer downloaded from a registry cache is written once: the verified download is linked into the store and from there into the layout', async () => {
  // 9 MiB of random bytes: more than the import holds in memory, so its file blob is spooled.
  rig.write({ 'ctxO/Dockerfile': 'FROM scratch\nCOPY big.bin /big.bin\nCOPY a.txt /a.txt\n', 'ctxO/a.txt': 'oci\n' });
  rig.write({ 'ctxO/big.bin': randomBytes(9 << 20) });
  const a = await build('ctxO', 'storeOA', ['--cache-to', `type=registry,ref=${reg.host}/cache/oci:1,mode=max`]);
  assert.is(a.code, 0, a.stderr);
  cpSync(rig.path('ctxO'), rig.path('ctxO2'), { recursive: true });
  const b = await build('ctxO2', 'storeOB', ['--cache-from', `type=registry,ref=${reg.host}/cache/oci:1`, '-o', `type=oci,dest=${rig.path('outO')},tar=false`]);
  assert.is(b.code, 0, b.stderr);
  assert.ok(stepsDone(b).every((s) => s.cached || s.metadata !== undefined), JSON.stringify(stepsDone(b)));
  const index = JSON.parse(rig.read('outO/index.json')) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(rig.read(`outO/blobs/sha256/${index.manifests[0]!.digest.slice(7)}`)) as { layers: { digest: string }[] };
  assert.is(manifest.layers.length, 2);
  for (const l of manifest.layers) {
    const hex = l.digest.slice(7);
    const out = rig.path(`outO/blobs/sha256/${hex}`);
    assert.is(createHash('sha256').update(readFileSync(out)).digest('hex'), hex, 'the layout holds the right bytes');
    const inStore = storeBlob('storeOB', hex);
    assert.ok(inStore, `the store keeps blob ${hex} as the layer's origin`);
    // One inode: the layout's file is the store's blob, not a copy of it.
    assert.is(statSync(out).ino, statSync(inStore!).ino, `layout blob ${hex} is a hard link to the store's`);
    assert.is(statSync(out).mode & 0o777, 0o444, 'read-only, as every store blob');
  }
  // Nothing is left in the import staging.
  const staging = rig.path('storeOB/dirs/import');
  assert.ok(!existsSync(staging) || readdirSync(staging).length === 0, existsSync(staging) ? readdirSync(staging).join(',') : '');
});

t.test('an OCI output of cache hits takes their blobs alone: the image is A\'s, no layer is unpacked, and an output of files later unpacks them from the store', async () => {
  const epoch = machines(() => rig, { SOURCE_DATE_EPOCH: '1700000000' });
  // No COPY --from: its key reads the other stage's files, which brings those layers in.
  rig.write({ 'ctxU/Dockerfile': 'FROM scratch\nARG M\nCOPY a.txt /a.txt\nRUN ["/bin/sh", "-c", "echo u >> $M/runs.log; cat a.txt > b.txt"]\nCOPY c.txt /c.txt\n', 'ctxU/a.txt': 'blobs\n', 'ctxU/c.txt': 'c\n' });
  const a = await epoch.build('ctxU', 'storeUA', ['--cache-to', `type=registry,ref=${reg.host}/cache/blobs:1,mode=max`, '-o', `type=oci,dest=${rig.path('ociUA')},tar=false`]);
  assert.is(a.code, 0, a.stderr);
  const ran = runs().length;
  cpSync(rig.path('ctxU'), rig.path('ctxU2'), { recursive: true });
  const cacheFrom = ['--cache-from', `type=registry,ref=${proxy.host}/cache/blobs:1`];
  const b = await epoch.build('ctxU2', 'storeUB', [...cacheFrom, '-o', `type=oci,dest=${rig.path('ociUB')},tar=false`]);
  assert.is(b.code, 0, b.stderr);
  assert.ok(stepsDone(b).every((s) => s.cached || s.metadata !== undefined), JSON.stringify(stepsDone(b)));
  assert.is(runs().length, ran);
  const digest = (dir: string) => (JSON.parse(rig.read(`${dir}/index.json`)) as { manifests: { digest: string }[] }).manifests[0]!.digest;
  assert.is(digest('ociUB'), digest('ociUA'), 'the same image as A\'s');
  // skopeo checks every blob's digest and size as it copies.
  await skopeo(['copy', `oci:${rig.path('ociUB')}`, `oci:${rig.path('ociUB-copy')}`]);
  // No layer manifest was written to B's store: the blobs are there, unpacked nowhere.
  const layers = rig.path('storeUB/layers-v2');
  const unpacked = existsSync(layers) ? readdirSync(layers).flatMap((d) => readdirSync(join(layers, d))) : [];
  assert.equal(unpacked, [], 'layers unpacked into B\'s store');
  const manifest = JSON.parse(rig.read(`ociUB/blobs/sha256/${digest('ociUB').slice(7)}`)) as { layers: { digest: string }[] };
  for (const l of manifest.layers) assert.ok(storeBlob('storeUB', l.digest.slice(7)), `B's store keeps blob ${l.digest}`);

  // Files need the layers: they are unpacked from B's blobs, and not one is asked for again
  // (not even a HEAD to check that the cache still has it).
  const layerBlob = (url: string) => manifest.layers.some((l) => url.endsWith(`/blobs/${l.digest}`));
  const seen = proxy.seen.length;
  const files = await epoch.build('ctxU2', 'storeUB', [...cacheFrom, '-o', `type=local,dest=${rig.path('filesUB')}`]);
  assert.is(files.code, 0, files.stderr);
  assert.ok(stepsDone(files).every((s) => s.cached || s.metadata !== undefined), JSON.stringify(stepsDone(files)));
  const asked = proxy.seen.slice(seen).filter((r) => layerBlob(r.url));
  assert.equal(asked.map((r) => `${r.method} ${r.url}`), [], 'a layer blob already in the store was asked for again');
  assert.is(rig.read('filesUB/b.txt'), 'blobs\n');
  assert.is(rig.read('filesUB/c.txt'), 'c\n');
  assert.is(runs().length, ran);
  // Now the hits are B's own: a build with no cache at all hits every step.
  const own = await epoch.build('ctxU2', 'storeUB', []);
  assert.is(own.code, 0, own.stderr);
  assert.ok(stepsDone(own).every((s) => s.cached || s.metadata !== undefined), JSON.stringify(stepsDone(own)));
});

t.test('a local cache directory\'s blobs are copied into the store, never linked (they are not the store\'s to share)', async () => {
  rig.write({ 'ctxK/Dockerfile': 'FROM scratch\nCOPY a.txt /a.txt\n', 'ctxK/a.txt': 'k\n' });
  const a = await build('ctxK', 'storeKA', ['--cache-to', `type=local,dest=${rig.path('cache-k')},mode=max`]);
  assert.is(a.code, 0, a.stderr);
  const b = await build('ctxK', 'storeKB', ['--cache-from', `type=local,src=${rig.path('cache-k')}`, '-o', `type=oci,dest=${rig.path('outK')},tar=false`]);
  assert.is(b.code, 0, b.stderr);
  const index = JSON.parse(rig.read('outK/index.json')) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(rig.read(`outK/blobs/sha256/${index.manifests[0]!.digest.slice(7)}`)) as { layers: { digest: string }[] };
  const hex = manifest.layers[0]!.digest.slice(7);
  const inStore = storeBlob('storeKB', hex);
  assert.ok(inStore);
  assert.is.not(statSync(inStore!).ino, statSync(rig.path(`cache-k/blobs/sha256/${hex}`)).ino);
});

t.test('an unreadable cache is a warning and the steps build', async () => {
  rig.write({ 'ctxW/Dockerfile': 'FROM scratch\nCOPY a.txt /a.txt\n', 'ctxW/a.txt': 'w' });
  const r = await build('ctxW', 'storeW', ['--cache-from', `type=registry,ref=${reg.host}/cache/none:nothing`, '--cache-from', `type=local,src=${rig.path('no-such-dir')}`]);
  assert.is(r.code, 0, r.stderr);
  const warnings = r.events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message);
  assert.ok(warnings.some((w) => w.includes('cache/none')), JSON.stringify(warnings));
  assert.ok(buildDone(r)!.ok);
});

t.run();
