/**
 * FROM a registry image and --push, through the real CLI against a real loopback registry:
 * the busybox base is copied into the registry with skopeo, a build pulls it once (a second
 * build works with the registry stopped), pushes the result (skopeo reads the same digest
 * back), and a second push of the same image uploads no blob.
 */
import * as assert from 'uvu/assert';
import { suite, Rig } from '../util/rig.js';
import { buildDone, runCli, stepsDone } from '../util/cli.js';
import { busyboxBase } from '../util/base-images.js';
import { makeImage, sha256, skopeo, startRegistry, type RunningRegistry } from '../registry/kit.js';
import { startProxy } from './proxy.js';

const t = suite('registry e2e: pull and push', { timeoutMs: 180_000 });
let reg: RunningRegistry;
let rig: Rig;

t.before(async () => {
  reg = await startRegistry();
  rig = new Rig('stratum-reg-e2e-');
  const base = await busyboxBase();
  await skopeo(['copy', '--dest-tls-verify=false', `oci:${base}:latest`, `docker://${reg.host}/busybox:latest`]);
});
t.after(async () => {
  await reg?.stop();
  rig?.cleanup();
});

const storeA = () => ['--cache-dir', rig.path('store-a')];

t.test('builds FROM a registry image, pushes it, and builds again with the registry stopped', async () => {
  rig.write({ 'ctx/Dockerfile': `FROM ${reg.host}/busybox:latest\nCOPY a.txt /a.txt\n`, 'ctx/a.txt': 'hello\n' });
  const r1 = await runCli(['build', '--progress=json', ...storeA(), '-t', `${reg.host}/app:1`, '--push', rig.path('ctx')]);
  assert.is(r1.code, 0, r1.stderr);
  const done1 = buildDone(r1)!;
  const pushed = (done1 as { pushed?: { name: string; digest: string }[] }).pushed;
  assert.ok(pushed && pushed.length === 1, JSON.stringify(done1));
  assert.is(pushed![0]!.name, `${reg.host}/app:1`);
  assert.match(r1.stderr, `pushed ${reg.host}/app:1: ${pushed![0]!.digest}`);
  const inspect = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/app:1`])) as { Digest: string; Layers: string[] };
  assert.is(inspect.Digest, pushed![0]!.digest);
  // skopeo copies it into an OCI layout: the manifest digest survives the round trip.
  await skopeo(['copy', '--src-tls-verify=false', `docker://${reg.host}/app:1`, `oci:${rig.path('copied')}:1`]);
  const copied = JSON.parse(rig.read('copied/index.json')) as { manifests: { digest: string }[] };
  assert.is(copied.manifests[0]!.digest, pushed![0]!.digest);
  // The base's layer went up as the very blob the base came in (the registry has it already).
  const baseInspect = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/busybox:latest`])) as { Layers: string[]; Digest: string };
  assert.is(inspect.Layers[0], baseInspect.Layers[0]);

  // The image is pushed again with `stratum push`, through a counting proxy: the registry has
  // every blob, so there is one HEAD per blob, no upload, and the manifest PUT.
  const proxy = await startProxy(() => reg.host);
  try {
    const p = await runCli(['push', ...storeA(), `${reg.host}/app:1`, `${proxy.host}/app:1`]);
    assert.is(p.code, 0, p.stderr);
    assert.match(p.stdout, `Pushed ${proxy.host}/app:1: ${pushed![0]!.digest} (0 blobs uploaded, 3 already there)`);
    const blobReqs = proxy.seen.filter((q) => q.url.includes('/blobs/'));
    assert.equal(blobReqs.map((q) => q.method), ['HEAD', 'HEAD', 'HEAD']);
    assert.equal(proxy.seen.filter((q) => q.method === 'PUT').map((q) => q.url), [`/v2/app/manifests/1`]);
  } finally {
    await proxy.stop();
  }

  // The base is in the store by name now: stop the registry and build again.
  await reg.stop();
  rig.write({ 'ctx/a.txt': 'changed\n' });
  const r2 = await runCli(['build', '--progress=json', ...storeA(), rig.path('ctx')]);
  assert.is(r2.code, 0, r2.stderr);
  assert.is(stepsDone(r2).filter((s) => !s.cached && !s.metadata).length, 1);
  const images = await runCli(['images', ...storeA()]);
  assert.match(images.stdout, `${reg.host}/busybox`);
  // The pulled image is in the store by its manifest digest too.
  rig.write({ 'pinned/Dockerfile': `FROM ${reg.host}/busybox@${baseInspect.Digest}\nCOPY a.txt /a.txt\n`, 'pinned/a.txt': 'pinned' });
  const r3 = await runCli(['build', '--progress=json', ...storeA(), rig.path('pinned')]);
  assert.is(r3.code, 0, r3.stderr);
  reg = await startRegistry();
});

t.test('builds FROM an image whose layers are zstd-compressed', async () => {
  const base = await busyboxBase();
  await skopeo(['copy', '--dest-tls-verify=false', '--dest-compress-format=zstd', `oci:${base}:latest`, `docker://${reg.host}/busybox-zstd:latest`]);
  const m = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/busybox-zstd:latest`])) as { layers: { mediaType: string }[] };
  assert.match(m.layers[0]!.mediaType, 'zstd');
  rig.write({ 'zstd/Dockerfile': `FROM ${reg.host}/busybox-zstd:latest\nCOPY a.txt /a.txt\n`, 'zstd/a.txt': 'z' });
  const r = await runCli(['build', '--progress=json', '--cache-dir', rig.path('store-z'), '-o', `type=oci,dest=${rig.path('zstd-out')},tar=false`, rig.path('zstd')]);
  assert.is(r.code, 0, r.stderr);
  // The base layer is exported as the very zstd blob it came in.
  const index = JSON.parse(rig.read('zstd-out/index.json')) as { manifests: { digest: string }[] };
  const out = JSON.parse(rig.read(`zstd-out/blobs/sha256/${index.manifests[0]!.digest.slice(7)}`)) as { layers: { mediaType: string }[] };
  assert.match(out.layers[0]!.mediaType, 'zstd');
});

t.test('COPY --from and RUN --mount=from= a registry image pull it, as Docker does', async () => {
  await skopeo(['copy', '--dest-tls-verify=false', `oci:${await busyboxBase()}:latest`, `docker://${reg.host}/tools:1`]);
  rig.write({
    'cpfrom/Dockerfile': `FROM scratch\nCOPY --from=${reg.host}/tools:1 /bin/busybox /bb\nFROM ${reg.host}/tools:1\nRUN --mount=type=bind,from=${reg.host}/tools:1,source=/bin,target=/m test -x /m/busybox && echo mounted > /ok\nCOPY --from=0 /bb /bb\n`,
  });
  const r = await runCli(['build', '--progress=json', '--cache-dir', rig.path('store-cf'), '-o', `type=local,dest=${rig.path('cf-out')}`, rig.path('cpfrom')]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, `pulled ${reg.host}/tools:1`);
  assert.is(rig.read('cf-out/ok'), 'mounted\n');
  assert.ok(rig.exists('cf-out/bb'), 'the copied file');
  // Pulled once: the next build uses the store's copy without asking.
  const again = await runCli(['build', '--progress=json', '--cache-dir', rig.path('store-cf'), rig.path('cpfrom')]);
  assert.is(again.code, 0, again.stderr);
  assert.not.match(again.stdout, `pulled`);
  assert.ok(stepsDone(again).every((e) => e.cached || e.layer === null));
});

t.test('an image built with --platform says so in its config', async () => {
  rig.write({ 'plat/Dockerfile': 'FROM scratch\nCOPY a.txt /a.txt\n', 'plat/a.txt': 'p' });
  const r = await runCli(['build', '--progress=json', '--cache-dir', rig.path('store-p'), '--platform', 'linux/arm64', '-t', `${reg.host}/plat:1`, '--push', rig.path('plat')]);
  assert.is(r.code, 0, r.stderr);
  const cfg = JSON.parse(await skopeo(['inspect', '--config', '--tls-verify=false', `docker://${reg.host}/plat:1`])) as { architecture: string; os: string };
  assert.is(cfg.architecture, 'arm64');
  assert.is(cfg.os, 'linux');
});

t.test('FROM --platform picks its image from an index; another platform pulls again', async () => {
  const { createRegistryClient } = await import('../../engine/registry/client.js');
  const { parseReference } = await import('../../engine/registry/reference.js');
  const client = createRegistryClient({ auth: false });
  const ref = parseReference(`${reg.host}/multi:1`);
  const entries = [];
  for (const arch of ['amd64', 'arm64']) {
    const img = await makeImage({ [`${arch}.txt`]: arch }, arch);
    await client.putBlob(ref, { bytes: img.config }, `sha256:${sha256(img.config)}`, img.config.length);
    await client.putBlob(ref, { bytes: img.layers[0]!.blob }, img.layers[0]!.digest, img.layers[0]!.size);
    const d = await client.putManifest(parseReference(`${reg.host}/multi@${img.manifestDigest}`), 'application/vnd.oci.image.manifest.v1+json', img.manifest);
    entries.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d, size: img.manifest.length, platform: { os: 'linux', architecture: arch } });
  }
  await client.putManifest(ref, 'application/vnd.oci.image.index.v1+json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: entries })));
  for (const arch of ['arm64', 'amd64']) {
    rig.write({ [`multi-${arch}/Dockerfile`]: `FROM --platform=linux/${arch} ${reg.host}/multi:1\nCOPY a.txt /a.txt\n`, [`multi-${arch}/a.txt`]: 'm' });
    const r = await runCli(['build', '--progress=json', '--cache-dir', rig.path('store-multi'), '-o', `type=local,dest=${rig.path(`multi-out-${arch}`)}`, rig.path(`multi-${arch}`)]);
    assert.is(r.code, 0, r.stderr);
    assert.ok(rig.exists(`multi-out-${arch}/${arch}.txt`), `the ${arch} image was used`);
  }
});

t.test('stratum plan says it would pull and does not', async () => {
  rig.write({ 'plan/Dockerfile': `FROM ${reg.host}/nothing-here:1\nCOPY a.txt /a.txt\n`, 'plan/a.txt': 'x' });
  const r = await runCli(['plan', ...storeA(), rig.path('plan')]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, `would pull it from ${reg.host}`);
});

t.test('a missing image fails naming the registry and the repository; the store holds nothing of it', async () => {
  rig.write({ 'miss/Dockerfile': `FROM ${reg.host}/nothing-here:1\n` });
  const r = await runCli(['build', '--progress=plain', ...storeA(), rig.path('miss')]);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, `${reg.host}/nothing-here`);
  const images = await runCli(['images', ...storeA()]);
  assert.not.match(images.stdout, 'nothing-here');
});

t.test('a registry that is down fails clearly', async () => {
  rig.write({ 'down/Dockerfile': `FROM 127.0.0.1:9/busybox:latest\n` });
  const r = await runCli(['build', '--progress=plain', ...storeA(), rig.path('down')]);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, '127.0.0.1:9');
});

t.run();
