/**
 * Layer model v2 across the OCI boundary, with real tools (issue 13): a base layer made by
 * umoci as root, holding a 1000:1000 file and dir, a hardlink pair, a fifo, `dev/null` (char
 * 1,3), a `security.capability` xattr and a binary user xattr, survives `stratum load` →
 * export with the identical diffID, blob digest and bytes (an OCI directory, an OCI tar, a
 * docker-archive); and the same layer re-tarred by stratum (its origin gone) still unpacks
 * with umoci to the same owners, links, devices and xattrs, and imports to the same layer.
 */
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync, linkSync } from 'node:fs';
import { join } from 'node:path';
import { suite, Rig } from './util/rig.js';
import { runCli, type CliResult } from './util/cli.js';
import { sha256, tool } from './util/oci-kit.js';
import { createStore } from '../cache/store.js';
import { asLayerDigest } from '../cache/digest.js';

const t = suite('oci layer model v2', { timeoutMs: 180_000 });
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig('stratum-oci-v2-');
});
t.afterEach(() => rig.cleanup());

// RUNs on these bases are the host executor's (the tests say so): the base has no shell.
const cli = (args: string[], store = 'store', env?: Record<string, string>) =>
  runCli([...args.slice(0, 1), '--cache-dir', rig.path(store), ...(args[0] === 'build' ? ['--executor=host'] : []), ...args.slice(1)], env ? { env } : {});
async function ok(r: Promise<CliResult>): Promise<CliResult> {
  const res = await r;
  assert.is(res.code, 0, `${res.stdout}\n${res.stderr}`);
  return res;
}

const CAP = Buffer.from([1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // cap_net_bind_service, effective
const NOTE = Buffer.from([0xff, 0x00, 0x68, 0x69]); // not UTF-8: only a byte-exact path keeps it

const py = (code: string, ...args: string[]) => execFileSync('python3', ['-c', code, ...args], { encoding: 'utf8' }).trim();
const setXattr = (path: string, name: string, value: Buffer) => py('import os,sys; os.setxattr(sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), follow_symlinks=False)', path, name, value.toString('hex'));
const getXattr = (path: string, name: string) => py('import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).hex())', path, name);

interface LayoutFacts {
  layers: { mediaType: string; digest: string; size: number }[];
  diffIds: string[];
  blob(digest: string): Buffer;
}
function readLayout(dir: string, tag?: string): LayoutFacts {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const entry = tag === undefined ? index.manifests[0]! : index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag)!;
  const blob = (d: string) => readFileSync(join(dir, 'blobs', 'sha256', d.replace(/^sha256:/, '')));
  const manifest = JSON.parse(blob(entry.digest).toString('utf8')) as { config: { digest: string }; layers: LayoutFacts['layers'] };
  const config = JSON.parse(blob(manifest.config.digest).toString('utf8')) as { rootfs: { diff_ids: string[] } };
  return { layers: manifest.layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })), diffIds: config.rootfs.diff_ids, blob };
}

/** One umoci layer (as root) with every v2 feature; returns the layout directory. */
async function umociBase(): Promise<string> {
  const L = rig.path('base-layout');
  await tool('umoci', ['init', '--layout', L]);
  await tool('umoci', ['new', '--image', `${L}:base`]);
  await tool('umoci', ['unpack', '--image', `${L}:base`, rig.path('bundle')]);
  const R = rig.path('bundle', 'rootfs');
  mkdirSync(join(R, 'home', 'app'), { recursive: true });
  mkdirSync(join(R, 'usr', 'bin'), { recursive: true });
  mkdirSync(join(R, 'dev'), { recursive: true });
  writeFileSync(join(R, 'home', 'app', 'owned'), 'mine\n');
  chownSync(join(R, 'home', 'app'), 1000, 1000);
  chownSync(join(R, 'home', 'app', 'owned'), 1000, 1000);
  writeFileSync(join(R, 'usr', 'bin', 'perl'), '#!perl\n', { mode: 0o755 });
  linkSync(join(R, 'usr', 'bin', 'perl'), join(R, 'usr', 'bin', 'perl5.36'));
  execFileSync('mkfifo', [join(R, 'run.fifo')]);
  execFileSync('mknod', [join(R, 'dev', 'null'), 'c', '1', '3']);
  setXattr(join(R, 'usr', 'bin', 'perl'), 'security.capability', CAP);
  setXattr(join(R, 'home', 'app', 'owned'), 'user.note', NOTE);
  await tool('umoci', ['repack', '--image', `${L}:base`, rig.path('bundle')]);
  return L;
}

/** What umoci (as root) unpacks from `layout:tag`, checked against the base's features. */
async function checkUnpacked(layout: string, tag: string, label: string): Promise<void> {
  const dest = rig.path(`unpacked-${label}`);
  await tool('umoci', ['unpack', '--image', `${layout}:${tag}`, dest]);
  const R = join(dest, 'rootfs');
  const owned = lstatSync(join(R, 'home', 'app', 'owned'));
  assert.equal([owned.uid, owned.gid], [1000, 1000], `${label}: file owner`);
  const dir = lstatSync(join(R, 'home', 'app'));
  assert.equal([dir.uid, dir.gid], [1000, 1000], `${label}: dir owner`);
  const a = lstatSync(join(R, 'usr', 'bin', 'perl'));
  const b = lstatSync(join(R, 'usr', 'bin', 'perl5.36'));
  assert.is(a.ino, b.ino, `${label}: a hardlink pair is one inode`);
  assert.is(a.nlink, 2, `${label}: nlink`);
  assert.is(a.mode & 0o7777, 0o755);
  assert.ok(lstatSync(join(R, 'run.fifo')).isFIFO(), `${label}: fifo`);
  const nul = lstatSync(join(R, 'dev', 'null'));
  assert.ok(nul.isCharacterDevice(), `${label}: char device`);
  assert.is(nul.rdev, (1 << 8) | 3, `${label}: device 1,3`);
  assert.is(getXattr(join(R, 'usr', 'bin', 'perl'), 'security.capability'), CAP.toString('hex'), `${label}: security.capability`);
  assert.is(getXattr(join(R, 'home', 'app', 'owned'), 'user.note'), NOTE.toString('hex'), `${label}: binary user xattr`);
}

t.test('load → export of an unchanged base keeps its diffID, blob digest and bytes (OCI dir, OCI tar, docker-archive)', async () => {
  const L = await umociBase();
  const base = readLayout(L, 'base');
  await checkUnpacked(L, 'base', 'umoci itself');
  await ok(cli(['load', L, '-t', 'base:v2']));

  // The store holds the layer with every v2 entry type.
  const store = createStore(rig.path('store'));
  const image = store.getImage('base:v2')!;
  const layer = store.getLayer(asLayerDigest(image.layers[0]!))!;
  const byPath = new Map(layer.entries.map((e) => [e.path, e]));
  assert.equal(byPath.get('usr/bin/perl5.36'), { path: 'usr/bin/perl5.36', type: 'hardlink', target: 'usr/bin/perl' });
  assert.equal(byPath.get('dev/null'), { path: 'dev/null', type: 'char', mode: 0o644, major: 1, minor: 3 });
  assert.is(byPath.get('run.fifo')?.type, 'fifo');
  assert.equal(byPath.get('home/app/owned'), { ...byPath.get('home/app/owned')!, uid: 1000, gid: 1000, xattrs: { 'user.note': NOTE.toString('base64') } });
  assert.equal((byPath.get('usr/bin/perl') as { xattrs?: unknown }).xattrs, { 'security.capability': CAP.toString('base64') });
  assert.is(store.getLayerOrigin(layer.digest)?.diffId, base.diffIds[0]!.slice(7));

  rig.write({ 'ctx/Dockerfile': 'FROM base:v2\nLABEL re=export\n' });
  const out = rig.path('out');
  await ok(cli(['build', '-t', 'again:1', '-o', `type=oci,dest=${out},tar=false`, '-o', `type=oci,dest=${rig.path('out.tar')}`, '-o', `type=docker,dest=${rig.path('docker.tar')}`, rig.path('ctx')]));
  const exported = readLayout(out);
  assert.equal(exported.layers, base.layers, 'same layer descriptors: media type, digest and size');
  assert.equal(exported.diffIds, base.diffIds, 'same diffIDs');
  assert.ok(exported.blob(base.layers[0]!.digest).equals(base.blob(base.layers[0]!.digest)), 'byte-identical layer blob');
  await checkUnpacked(out, '1', 'stratum export');

  // The OCI tar and the docker-archive carry the same bytes.
  const untar = (file: string) => {
    const dir = rig.path(`x-${file.split('/').pop()}`);
    mkdirSync(dir);
    execFileSync('tar', ['-xf', file, '-C', dir]);
    return dir;
  };
  const ociTar = untar(rig.path('out.tar'));
  assert.ok(readFileSync(join(ociTar, 'blobs', 'sha256', base.layers[0]!.digest.slice(7))).equals(base.blob(base.layers[0]!.digest)), 'OCI tar: byte-identical blob');
  const docker = untar(rig.path('docker.tar'));
  const manifest = JSON.parse(readFileSync(join(docker, 'manifest.json'), 'utf8')) as { Layers: string[] }[];
  assert.is(sha256(readFileSync(join(docker, manifest[0]!.Layers[0]!))), base.diffIds[0]!.slice(7), 'docker-archive: the layer tar is the original tar');
});

t.test('a v2 layer re-tarred by stratum (no origin) unpacks with umoci to the same owners, links, devices and xattrs, and imports to the same layer', async () => {
  const L = await umociBase();
  await ok(cli(['load', L, '-t', 'base:v2']));
  // Forget the origins: the export must now write the layer tar itself.
  rmSync(rig.path('store', 'origins-v2'), { recursive: true, force: true });
  rig.write({ 'ctx/Dockerfile': 'FROM base:v2\n' });
  const out = rig.path('retar');
  await ok(cli(['build', '-t', 'retar:1', '-o', `type=oci,dest=${out},tar=false`, rig.path('ctx')]));
  const exported = readLayout(out);
  const base = readLayout(L, 'base');
  assert.is.not(exported.layers[0]!.digest, base.layers[0]!.digest, 'a new tar (times and order are stratum\'s)');
  await checkUnpacked(out, '1', 'stratum tar');
  await ok(cli(['load', out, '-t', 'back:1'], 'store2'));
  const a = createStore(rig.path('store')).getImage('base:v2')!;
  const b = createStore(rig.path('store2')).getImage('back:1')!;
  assert.equal(b.layers, a.layers, 'the same layer digest on the way back');
});

for (const privileged of [true, false]) {
  t.test(`a RUN on the base (host executor${privileged ? '' : ', mknod refused'}) sees the hardlink pair and leaves devices and fifos out of its layer`, async () => {
    const L = await umociBase();
    await ok(cli(['load', L, '-t', 'base:v2']));
    rig.write({ 'ctx/Dockerfile': 'FROM base:v2\nRUN test "$(stat -c %i usr/bin/perl)" = "$(stat -c %i usr/bin/perl5.36)" && echo linked > marker\n' });
    let env: Record<string, string> | undefined;
    if (!privileged) {
      // A mknod that fails, as it does for an unprivileged user.
      rig.write({ 'fakebin/mknod': '#!/bin/sh\necho "mknod: Operation not permitted" >&2\nexit 1\n' });
      chmodSync(rig.path('fakebin', 'mknod'), 0o755);
      env = { PATH: `${rig.path('fakebin')}:${process.env.PATH ?? ''}` };
    }
    await ok(cli(['build', '-t', 'run:1', rig.path('ctx')], 'store', env));
    const store = createStore(rig.path('store'));
    const image = store.getImage('run:1')!;
    const top = store.getLayer(asLayerDigest(image.layers.at(-1)!))!;
    assert.equal(top.entries.map((e) => `${e.path} ${e.type}`), ['marker file'], 'only what the RUN wrote: no whiteouts of nodes it could not see');
    // A second RUN on top still keeps them (the workspace remembers what it could not make).
    rig.write({ 'ctx/Dockerfile': 'FROM base:v2\nRUN test "$(stat -c %i usr/bin/perl)" = "$(stat -c %i usr/bin/perl5.36)" && echo linked > marker\nRUN echo two > second\n' });
    await ok(cli(['build', '-t', 'run:2', rig.path('ctx')], 'store', env));
    const image2 = createStore(rig.path('store')).getImage('run:2')!;
    const top2 = createStore(rig.path('store')).getLayer(asLayerDigest(image2.layers.at(-1)!))!;
    assert.equal(top2.entries.map((e) => `${e.path} ${e.type}`), ['second file']);
  });
}

t.run();
