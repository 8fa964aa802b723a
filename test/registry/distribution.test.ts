/**
 * The client against Debian's distribution registry (docker-registry, no auth) on a loopback
 * port: push and pull, chunked uploads, cross-repository mounts, indexes with a platform
 * choice, and interop with skopeo both ways (including zstd layers skopeo writes).
 */
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { suite, Rig } from '../util/rig.js';
import { createRegistryClient, type RegistryClient } from '../../engine/registry/client.js';
import { parseReference } from '../../engine/registry/reference.js';
import { parsePlatform } from '../../engine/registry/platform.js';
import { createDecompress } from '../../engine/registry/decompress.js';
import { layerCompression } from '../../engine/registry/media-types.js';
import { RegistryError } from '../../engine/registry/registry-error.js';
import { writeLayout } from '../util/oci-kit.js';
import { makeImage, sha256, skopeo, startRegistry, type RunningRegistry, type TestImage } from './kit.js';

const t = suite('registry distribution', { timeoutMs: 120_000 });
let reg: RunningRegistry;
let rig: Rig;
let client: RegistryClient;

t.before(async () => {
  reg = await startRegistry();
  rig = new Rig('stratum-registry-dist-');
  client = createRegistryClient({ auth: false });
});
t.after(async () => {
  await reg?.stop();
  rig?.cleanup();
});

async function push(name: string, img: TestImage): Promise<string> {
  const ref = parseReference(`${reg.host}/${name}`);
  await client.putBlob(ref, { bytes: img.config }, `sha256:${sha256(img.config)}`, img.config.length);
  for (const l of img.layers) await client.putBlob(ref, { bytes: l.blob }, l.digest, l.size);
  return client.putManifest(ref, 'application/vnd.oci.image.manifest.v1+json', img.manifest);
}

t.test('pings the registry over http:// on loopback', async () => {
  assert.equal(await client.ping(reg.host), { authorized: true });
});

t.test('pushes an image and pulls it back, every blob verified', async () => {
  const img = await makeImage({ 'hello.txt': 'hello registry\n' });
  const digest = await push('team/hello:1', img);
  assert.is(digest, img.manifestDigest);
  const ref = parseReference(`${reg.host}/team/hello:1`);
  const m = await client.getManifest(ref);
  assert.is(m.digest, img.manifestDigest);
  assert.is(m.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.ok(m.bytes.equals(img.manifest));
  const layer = m.manifest.layers[0]!;
  const dest = rig.path('layer.tgz');
  const got = await client.fetchBlob(ref, layer.digest, layer.size, dest);
  assert.is(got.size, img.layers[0]!.size);
  assert.ok(readFileSync(dest).equals(img.layers[0]!.blob));
  assert.equal(readdirSync(rig.dir).filter((n) => n.includes('.tmp-')), [], 'no temp file is left');
  // By digest, too.
  const pinned = await client.getManifest(parseReference(`${reg.host}/team/hello@${img.manifestDigest}`));
  assert.is(pinned.digest, img.manifestDigest);
  assert.equal(await client.headBlob(ref, layer.digest), { size: layer.size });
  assert.is(await client.headBlob(ref, `sha256:${'0'.repeat(64)}`), undefined);
});

t.test('says the blob exists instead of uploading it twice', async () => {
  const img = await makeImage({ 'twice.txt': 'x' });
  const ref = parseReference(`${reg.host}/team/twice:1`);
  const l = img.layers[0]!;
  assert.is((await client.putBlob(ref, { bytes: l.blob }, l.digest, l.size)).how, 'uploaded');
  assert.is((await client.putBlob(ref, { bytes: l.blob }, l.digest, l.size)).how, 'existed');
});

t.test('uploads in chunks (PATCH with Content-Range) from a file', async () => {
  const data = Buffer.alloc(300_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
  rig.write({ 'big.bin': data });
  const digest = `sha256:${sha256(data)}`;
  const ref = parseReference(`${reg.host}/team/chunked:1`);
  const r = await client.putBlob(ref, { file: rig.path('big.bin') }, digest, data.length, { chunkSize: 64 * 1024 });
  assert.is(r.how, 'uploaded');
  await client.fetchBlob(ref, digest, data.length, rig.path('big.back'));
  assert.ok(readFileSync(rig.path('big.back')).equals(data));
  // A monolithic upload streamed from a file, too.
  const other = Buffer.concat([data, Buffer.from('tail')]);
  rig.write({ 'mono.bin': other });
  assert.is((await client.putBlob(ref, { file: rig.path('mono.bin') }, `sha256:${sha256(other)}`, other.length, { chunked: false })).how, 'uploaded');
});

t.test('mounts a blob from another repository of the registry', async () => {
  const img = await makeImage({ 'mounted.txt': 'shared layer' });
  const l = img.layers[0]!;
  await client.putBlob(parseReference(`${reg.host}/team/source`), { bytes: l.blob }, l.digest, l.size);
  const r = await client.putBlob(parseReference(`${reg.host}/other/target`), { bytes: l.blob }, l.digest, l.size, { mountFrom: 'team/source' });
  assert.is(r.how, 'mounted');
  assert.equal(await client.headBlob(parseReference(`${reg.host}/other/target`), l.digest), { size: l.size });
  // A mount from a repository without the blob falls back to an upload.
  const img2 = await makeImage({ 'fallback.txt': 'not mounted' });
  const l2 = img2.layers[0]!;
  assert.is((await client.putBlob(parseReference(`${reg.host}/other/target`), { bytes: l2.blob }, l2.digest, l2.size, { mountFrom: 'team/source' })).how, 'uploaded');
});

t.test('refuses to push a blob whose bytes do not match the digest', async () => {
  const ref = parseReference(`${reg.host}/team/bad`);
  try {
    await client.putBlob(ref, { bytes: Buffer.from('these bytes') }, `sha256:${sha256('other bytes')}`, 11);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, RegistryError);
    assert.is((err as RegistryError).reason, 'DIGEST_MISMATCH');
    assert.match((err as Error).message, new RegExp(`${reg.host}/team/bad@sha256:`));
  }
});

t.test('resolves an image index to the host platform, or to --platform', async () => {
  const amd = await makeImage({ 'arch.txt': 'amd64' }, 'amd64');
  const arm = await makeImage({ 'arch.txt': 'arm64' }, 'arm64');
  const amdDigest = await push(`multi/app@${amd.manifestDigest}`, amd);
  const armDigest = await push(`multi/app@${arm.manifestDigest}`, arm);
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: amdDigest, size: amd.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: armDigest, size: arm.manifest.length, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    }),
  );
  const indexDigest = await client.putManifest(parseReference(`${reg.host}/multi/app:1`), 'application/vnd.oci.image.index.v1+json', index);
  const ref = parseReference(`${reg.host}/multi/app:1`);
  const host = process.arch === 'arm64' ? armDigest : amdDigest;
  const m = await client.getManifest(ref);
  assert.is(m.digest, host);
  assert.is(m.index?.digest, indexDigest);
  assert.is((await client.getManifest(ref, { platform: parsePlatform('linux/arm64') })).digest, armDigest);
  assert.is((await client.getManifest(ref, { platform: parsePlatform('linux/amd64') })).digest, amdDigest);
  try {
    await client.getManifest(ref, { platform: parsePlatform('linux/s390x') });
    assert.unreachable();
  } catch (err) {
    assert.is((err as RegistryError).reason, 'NOT_FOUND');
    assert.match((err as Error).message, /has no image for linux\/s390x \(it has linux\/amd64, linux\/arm64\/v8\)/);
  }
});

t.test('names registry, repository and tag when a manifest is missing', async () => {
  try {
    await client.getManifest(parseReference(`${reg.host}/team/nothing:9`));
    assert.unreachable();
  } catch (err) {
    const e = err as RegistryError;
    assert.is(e.reason, 'NOT_FOUND');
    assert.is(e.exitCode, 3);
    assert.match(e.message, new RegExp(`${reg.host}/team/nothing: fetching manifest 9: HTTP 404`));
  }
});

t.test('skopeo reads what the client pushed, with the same digests', async () => {
  const img = await makeImage({ 'a.txt': 'skopeo interop\n', 'b/c.txt': 'nested' });
  const digest = await push('interop/pushed:v1', img);
  const inspect = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/interop/pushed:v1`])) as { Digest: string; Layers: string[] };
  assert.is(inspect.Digest, digest);
  assert.equal(inspect.Layers, [img.layers[0]!.digest]);
  const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/interop/pushed:v1`]);
  assert.is(`sha256:${sha256(raw)}`, digest);
  const dir = rig.path('copied');
  await skopeo(['copy', '--src-tls-verify=false', `docker://${reg.host}/interop/pushed:v1`, `oci:${dir}:v1`]);
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  assert.is(index.manifests[0]!.digest, digest);
  assert.ok(existsSync(join(dir, 'blobs', 'sha256', img.layers[0]!.digest.slice(7))));
});

async function diffId(file: string, mediaType: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(file), createDecompress(layerCompression(mediaType) ?? 'none'), async (s: AsyncIterable<Buffer>) => {
    for await (const c of s) h.update(c);
  });
  return `sha256:${h.digest('hex')}`;
}

t.test('pulls what skopeo pushed (gzip and zstd layers), verified down to the diff_ids', async () => {
  for (const compression of ['gzip', 'zstd'] as const) {
    // An OCI layout with an uncompressed layer, so that skopeo compresses it as told; one
    // content per compression, so that skopeo cannot reuse the other's blob on the registry.
    const img = await makeImage({ 'from-skopeo.txt': `pushed by skopeo as ${compression}\n`.repeat(100) });
    const dir = rig.path(`layout-${compression}`);
    writeLayout(dir, { layers: [img.layers[0]!.tar], gzip: false, tag: '1' });
    await skopeo(['copy', '--dest-tls-verify=false', '--dest-compress-format', compression, `oci:${dir}:1`, `docker://${reg.host}/interop/${compression}:1`]);
    const ref = parseReference(`${reg.host}/interop/${compression}:1`);
    const m = await client.getManifest(ref);
    const cfgDesc = m.manifest.config;
    await client.fetchBlob(ref, cfgDesc.digest, cfgDesc.size, rig.path(`${compression}.config`));
    const config = JSON.parse(readFileSync(rig.path(`${compression}.config`), 'utf8')) as { rootfs: { diff_ids: string[] } };
    const layer = m.manifest.layers[0]!;
    assert.is(layerCompression(layer.mediaType), compression, layer.mediaType);
    await client.fetchBlob(ref, layer.digest, layer.size, rig.path(`${compression}.layer`));
    assert.is(await diffId(rig.path(`${compression}.layer`), layer.mediaType), config.rootfs.diff_ids[0]);
    assert.is(config.rootfs.diff_ids[0], `sha256:${sha256(img.layers[0]!.tar)}`);
  }
});

t.run();
