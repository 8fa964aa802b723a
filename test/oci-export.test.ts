/**
 * OCI and docker-archive export through the real CLI, checked by the real clients: skopeo
 * (inspect, and copy, which verifies every digest) and umoci (unpack, whose rootfs must equal
 * stratum's own `-o type=local` output). Also: byte-reproducible archives, whiteouts and
 * opaque directories on the way out, incremental layout export, and the round trip
 * build → export → load → export.
 */
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { suite, Rig } from './util/rig.js';
import { runCli, type CliResult } from './util/cli.js';
import { describeTree, listTar, makeTar, sha256, tool, writeLayout } from './util/oci-kit.js';

const WEBAPP = fileURLToPath(new URL('../../examples/webapp', import.meta.url));

/** Deletes files, deletes a tree, replaces a directory, turns a file into a directory and a
 *  directory into a file, adds a symlink and changes modes: every whiteout case. */
const CHURN = `FROM scratch
WORKDIR /app
COPY tree/ ./
RUN rm -f a/remove-me.txt && rm -rf gone && rm -rf replace && mkdir replace && echo new > replace/new.txt && chmod 750 replace \\
 && ln -s a/keep.txt link && chmod 600 a/keep.txt && rm fileToDir && mkdir fileToDir && echo in > fileToDir/in.txt \\
 && rm -rf dirToFile && echo now-a-file > dirToFile && mkdir -p deep/x/y && echo z > deep/x/y/z
ENV MODE=prod
LABEL com.example.k=v
CMD ["sh", "run.sh"]
`;

function churnProject(rig: Rig, dir = 'ctx'): string {
  rig.write({
    [`${dir}/Dockerfile`]: CHURN,
    [`${dir}/tree/a/keep.txt`]: 'keep\n',
    [`${dir}/tree/a/remove-me.txt`]: 'bye\n',
    [`${dir}/tree/gone/g1.txt`]: 'g1\n',
    [`${dir}/tree/gone/sub/g2.txt`]: 'g2\n',
    [`${dir}/tree/replace/old.txt`]: 'old\n',
    [`${dir}/tree/replace/old2/x.txt`]: 'x\n',
    [`${dir}/tree/fileToDir`]: 'was a file\n',
    [`${dir}/tree/dirToFile/child.txt`]: 'child\n',
    [`${dir}/tree/run.sh`]: 'echo hi\n',
  });
  chmodSync(rig.path(dir, 'tree/run.sh'), 0o755);
  return rig.path(dir);
}

async function build(rig: Rig, ctx: string, args: string[], env: Record<string, string> = {}, store = 'store'): Promise<CliResult> {
  const r = await runCli(['build', '--progress=plain', '--cache-dir', rig.path(store), ...args, ctx], { env });
  assert.is(r.code, 0, `build failed:\n${r.stderr}`);
  return r;
}

interface OciIndexJson {
  manifests: { digest: string; annotations?: Record<string, string> }[];
}
interface ManifestJson {
  config: { digest: string };
  layers: { digest: string; size: number; mediaType: string }[];
}

function readLayout(dir: string) {
  const blob = (d: string) => readFileSync(join(dir, 'blobs', 'sha256', d.replace(/^sha256:/, '')));
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as OciIndexJson;
  const manifest = JSON.parse(blob(index.manifests[0]!.digest).toString()) as ManifestJson;
  const config = JSON.parse(blob(manifest.config.digest).toString()) as { created: string; rootfs: { diff_ids: string[] }; history: { created_by: string; empty_layer?: boolean }[]; config: Record<string, unknown> };
  return { index, manifest, config, blob };
}

/** Unpack an OCI layout tag with umoci and describe its rootfs. */
async function umociTree(rig: Rig, layoutAndTag: string, name: string): Promise<string[]> {
  await tool('umoci', ['unpack', '--rootless', '--image', layoutAndTag, rig.path(name)]);
  return describeTree(rig.path(name, 'rootfs'));
}

const t = suite('oci export', { timeoutMs: 120_000 });
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig('stratum-oci-export-');
});
t.afterEach(() => rig.cleanup());

t.test('the webapp example exports as an OCI archive and layout that skopeo and umoci accept, equal to the local output', async () => {
  await build(rig, WEBAPP, ['-t', 'webapp:dev', '-o', `type=oci,dest=${rig.path('webapp.tar')}`, '-o', `type=oci,dest=${rig.path('layout')},tar=false`, '-o', `type=local,dest=${rig.path('local')}`]);
  const inspect = JSON.parse((await tool('skopeo', ['inspect', `oci-archive:${rig.path('webapp.tar')}`])).stdout) as { Layers: string[]; Labels: Record<string, string>; Architecture: string; Os: string };
  assert.is(inspect.Layers.length, 2);
  assert.equal(inspect.Labels, { 'org.opencontainers.image.title': 'webapp example' });
  assert.is(inspect.Os, 'linux');
  const cfg = JSON.parse((await tool('skopeo', ['inspect', '--config', `oci:${rig.path('layout')}:dev`])).stdout) as { config: { Cmd: string[]; WorkingDir: string; ExposedPorts: object } };
  assert.equal(cfg.config.Cmd, ['sh', '/srv/run.sh']);
  assert.is(cfg.config.WorkingDir, '/srv');
  assert.equal(cfg.config.ExposedPorts, { '8080/tcp': {} });
  // skopeo copy reads every blob and checks it against its digest.
  await tool('skopeo', ['copy', `oci:${rig.path('layout')}:dev`, `dir:${rig.path('copied')}`]);
  await tool('skopeo', ['copy', `oci-archive:${rig.path('webapp.tar')}`, `oci:${rig.path('from-archive')}:dev`]);
  const local = describeTree(rig.path('local'));
  assert.ok(local.includes('srv/run.sh file 755 ' + local.find((l) => l.startsWith('srv/run.sh'))!.split(' ')[3]));
  assert.equal(await umociTree(rig, `${rig.path('layout')}:dev`, 'bundle'), local);
  assert.equal(await umociTree(rig, `${rig.path('from-archive')}:dev`, 'bundle2'), local);
});

t.test('deletions, a replaced directory, file↔dir swaps and a symlink survive export: umoci unpacks exactly the local output', async () => {
  const ctx = churnProject(rig);
  await build(rig, ctx, ['-t', 'churn:1', '-o', `type=oci,dest=${rig.path('churn.tar')}`, '-o', `type=oci,dest=${rig.path('layout')},tar=false`, '-o', `type=local,dest=${rig.path('local')}`, '-o', `type=docker,dest=${rig.path('docker.tar')}`]);
  const local = describeTree(rig.path('local'));
  assert.ok(local.includes('app/replace dir 750'), local.join('\n'));
  assert.ok(local.includes('app/link symlink -> a/keep.txt'));
  assert.ok(local.some((l) => l.startsWith('app/dirToFile file 644')));
  assert.not.ok(local.some((l) => l.startsWith('app/gone') || l.startsWith('app/a/remove-me.txt') || l.startsWith('app/replace/old')));
  assert.equal(await umociTree(rig, `${rig.path('layout')}:1`, 'bundle'), local);

  // The RUN layer carries OCI whiteouts for what it deleted (a dir that became a file needs none).
  const { manifest, config, blob } = readLayout(rig.path('layout'));
  const runLayer = await listTar(blob(manifest.layers.at(-1)!.digest));
  const names = runLayer.map((l) => l.split(' ')[0]!);
  for (const w of ['app/a/.wh.remove-me.txt', 'app/.wh.gone', 'app/replace/.wh.old.txt', 'app/replace/.wh.old2']) assert.ok(names.includes(w), `${w} in ${names.join(', ')}`);
  assert.ok(runLayer.every((l) => / 0\/0 0( |$)/.test(l)), runLayer.join('\n'));
  assert.is(manifest.layers[0]!.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
  // diffIDs are the sha256 of the uncompressed layers.
  manifest.layers.forEach((l, i) => assert.is(config.rootfs.diff_ids[i], `sha256:${sha256(gunzipSync(blob(l.digest)))}`));

  // The archive and the docker-archive hold the same filesystem.
  await tool('skopeo', ['inspect', `oci-archive:${rig.path('churn.tar')}`]);
  await tool('skopeo', ['copy', `oci-archive:${rig.path('churn.tar')}`, `oci:${rig.path('from-archive')}:1`]);
  assert.equal(await umociTree(rig, `${rig.path('from-archive')}:1`, 'bundle2'), local);
  await tool('skopeo', ['copy', `docker-archive:${rig.path('docker.tar')}`, `oci:${rig.path('from-docker')}:1`]);
  assert.equal(await umociTree(rig, `${rig.path('from-docker')}:1`, 'bundle3'), local);
});

t.test('history in the config marks ENV, LABEL and CMD as empty layers, one non-empty row per layer', async () => {
  const ctx = churnProject(rig);
  await build(rig, ctx, ['-t', 'churn:1', '-o', `type=oci,dest=${rig.path('layout')},tar=false`]);
  const { config, manifest } = readLayout(rig.path('layout'));
  const empty = config.history.filter((h) => h.empty_layer).map((h) => h.created_by.split(' ')[0]);
  assert.equal(empty, ['ENV', 'LABEL', 'CMD']);
  assert.is(config.history.filter((h) => !h.empty_layer).length, manifest.layers.length);
  assert.equal(config.config.Env, ['MODE=prod']);
  assert.equal(config.config.Labels, { 'com.example.k': 'v' });
});

t.test('two builds in different stores and folders give byte-identical OCI and docker archives; SOURCE_DATE_EPOCH sets every timestamp', async () => {
  const one = churnProject(rig, 'one');
  const two = churnProject(rig, 'two');
  const out = (name: string) => ['-o', `type=oci,dest=${rig.path(`${name}.tar`)}`, '-o', `type=docker,dest=${rig.path(`${name}.docker.tar`)}`];
  await build(rig, one, ['-t', 'churn:1', ...out('a')], {}, 'store-a');
  await build(rig, two, ['-t', 'churn:1', ...out('b')], {}, 'store-b');
  assert.ok(readFileSync(rig.path('a.tar')).equals(readFileSync(rig.path('b.tar'))), 'OCI archives differ');
  assert.ok(readFileSync(rig.path('a.docker.tar')).equals(readFileSync(rig.path('b.docker.tar'))), 'docker archives differ');
  // A warm rebuild (every step a hit) exports the same bytes again.
  await build(rig, one, ['-t', 'churn:1', ...out('c')], {}, 'store-a');
  assert.ok(readFileSync(rig.path('a.tar')).equals(readFileSync(rig.path('c.tar'))), 'warm export differs');

  const epoch = '1700000000';
  await build(rig, one, ['-t', 'churn:1', ...out('d')], { SOURCE_DATE_EPOCH: epoch }, 'store-c');
  await build(rig, two, ['-t', 'churn:1', ...out('e')], { SOURCE_DATE_EPOCH: epoch }, 'store-d');
  assert.ok(readFileSync(rig.path('d.tar')).equals(readFileSync(rig.path('e.tar'))));
  assert.not.ok(readFileSync(rig.path('a.tar')).equals(readFileSync(rig.path('d.tar'))));
  await tool('skopeo', ['copy', `oci-archive:${rig.path('d.tar')}`, `oci:${rig.path('d-layout')}:1`]);
  const { manifest, config, blob } = readLayout(rig.path('d-layout'));
  assert.is(config.created, '2023-11-14T22:13:20Z');
  for (const l of manifest.layers) for (const row of await listTar(blob(l.digest))) assert.ok(row.includes(` 0/0 ${epoch}`), row);
  const outer = await listTar(readFileSync(rig.path('d.tar')));
  assert.ok(outer.every((row) => row.includes(` 0/0 ${epoch}`)), outer.join('\n'));
  // gzip header: no mtime, OS byte 255 (as Go writes it), whatever the host.
  const gz = blob(manifest.layers[0]!.digest);
  assert.equal([...gz.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
});

t.test('re-exporting into a layout rewrites nothing that is there, and never re-gzips a cached layer; an archive export verifies store blobs', async () => {
  const ctx = churnProject(rig);
  const layout = rig.path('layout');
  await build(rig, ctx, ['-t', 'churn:1', '-o', `type=oci,dest=${layout},tar=false`]);
  const blobDir = join(layout, 'blobs', 'sha256');
  const before = new Map(readdirSync(blobDir).map((n) => [n, statSync(join(blobDir, n))]));

  // Corrupt one content blob in the store with same-size bytes: only a re-tar would read it.
  const storeBlobs = rig.path('store', 'blobs-v2');
  const keep = readFileSync(join(ctx, 'tree/a/keep.txt'));
  let corrupted = '';
  for (const fan of readdirSync(storeBlobs)) {
    for (const name of readdirSync(join(storeBlobs, fan))) {
      const p = join(storeBlobs, fan, name);
      if (readFileSync(p).equals(keep)) {
        chmodSync(p, 0o644);
        writeFileSync(p, 'KEEP\n');
        corrupted = p;
      }
    }
  }
  assert.ok(corrupted, 'found the blob of a/keep.txt');

  await build(rig, ctx, ['-t', 'churn:1', '-o', `type=oci,dest=${layout},tar=false`]);
  for (const [name, st] of before) {
    const now = statSync(join(blobDir, name));
    assert.is(now.ino, st.ino, `${name} was rewritten`);
    assert.is(now.mtimeMs, st.mtimeMs, `${name} was rewritten`);
  }
  assert.equal(readdirSync(blobDir).sort(), [...before.keys()].sort());
  await tool('skopeo', ['copy', `oci:${layout}:1`, `dir:${rig.path('copied')}`]);

  // A tar export has to produce the bytes, and refuses a blob that does not match its digest.
  const r = await runCli(['build', '--progress=plain', '--cache-dir', rig.path('store'), '-t', 'churn:1', '-o', `type=oci,dest=${rig.path('x.tar')}`, ctx]);
  assert.is(r.code, 3, r.stderr);
  assert.match(r.stderr, /blob \w+ is corrupt/);
  assert.not.ok(existsSync(rig.path('x.tar')));
  assert.equal(readdirSync(rig.dir).filter((n) => n.includes('stratum')), []);
});

t.test('an archive that is already what the build would write is left alone (no temp file beside it either)', async () => {
  const ctx = churnProject(rig);
  const outs = ['-o', `type=oci,dest=${rig.path('out', 'img.tar')}`, '-o', `type=docker,dest=${rig.path('out', 'img.docker.tar')}`];
  await build(rig, ctx, ['-t', 'churn:1', ...outs]);
  const stat = (n: string) => statSync(rig.path('out', n));
  const before = [stat('img.tar'), stat('img.docker.tar')];
  await build(rig, ctx, ['-t', 'churn:1', ...outs]);
  assert.equal([stat('img.tar'), stat('img.docker.tar')].map((s) => [s.ino, s.mtimeMs]), before.map((s) => [s.ino, s.mtimeMs]));
  assert.equal(readdirSync(rig.path('out')).sort(), ['img.docker.tar', 'img.tar']);
  // A file someone changed is written again.
  writeFileSync(rig.path('out', 'img.tar'), 'clobbered');
  await build(rig, ctx, ['-t', 'churn:1', ...outs]);
  await tool('skopeo', ['inspect', `oci-archive:${rig.path('out', 'img.tar')}`]);
});

t.test('a second tag in the same layout keeps the first, and blobs nothing references any more are removed', async () => {
  const ctx = churnProject(rig);
  const layout = rig.path('layout');
  await build(rig, ctx, ['-t', 'churn:1', '-o', `type=oci,dest=${layout},tar=false`]);
  await build(rig, WEBAPP, ['-t', 'webapp:dev', '-o', `type=oci,dest=${layout},tar=false`]);
  const tags = (JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as OciIndexJson).manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']);
  assert.equal(tags, ['1', 'dev']);
  await tool('skopeo', ['inspect', `oci:${layout}:1`]);
  await tool('skopeo', ['inspect', `oci:${layout}:dev`]);
  // Rebuild tag 1 with a change: its old RUN layer goes, the new one comes.
  writeFileSync(join(ctx, 'tree/a/keep.txt'), 'changed\n');
  const countBefore = readdirSync(join(layout, 'blobs', 'sha256')).length;
  await build(rig, ctx, ['-t', 'churn:1', '-o', `type=oci,dest=${layout},tar=false`]);
  assert.is(readdirSync(join(layout, 'blobs', 'sha256')).length, countBefore);
  await tool('skopeo', ['copy', `oci:${layout}:1`, `dir:${rig.path('c1')}`]);
  await tool('skopeo', ['copy', `oci:${layout}:dev`, `dir:${rig.path('c2')}`]);
});

t.test('round trip: build → export → load → export gives the same layer digests and byte-identical layer tars', async () => {
  const ctx = churnProject(rig);
  await build(rig, ctx, ['-t', 'churn:1', '-o', `type=oci,dest=${rig.path('first.tar')}`]);
  const orig = JSON.parse((await runCli(['inspect', '--cache-dir', rig.path('store'), 'churn:1'])).stdout) as { RootFS: { Layers: string[] }; Id: string }[];
  const load = await runCli(['load', '--cache-dir', rig.path('store2'), rig.path('first.tar')]);
  assert.is(load.code, 0, load.stderr);
  assert.match(load.stdout, 'Loaded image: churn:1');
  const loaded = JSON.parse((await runCli(['inspect', '--cache-dir', rig.path('store2'), 'churn:1'])).stdout) as { RootFS: { Layers: string[] }; Id: string }[];
  assert.equal(loaded[0]!.RootFS.Layers, orig[0]!.RootFS.Layers);
  assert.is(loaded[0]!.Id, orig[0]!.Id);

  rig.write({ 'again/Dockerfile': 'FROM churn:1\n' });
  await build(rig, rig.path('again'), ['-o', `type=oci,dest=${rig.path('second.tar')}`], {}, 'store2');
  await tool('skopeo', ['copy', `oci-archive:${rig.path('first.tar')}`, `oci:${rig.path('l1')}:1`]);
  await tool('skopeo', ['copy', `oci-archive:${rig.path('second.tar')}`, `oci:${rig.path('l2')}:latest`]);
  const a = readLayout(rig.path('l1'));
  const b = readLayout(rig.path('l2'));
  assert.equal(b.manifest.layers.map((l) => l.digest), a.manifest.layers.map((l) => l.digest));
  assert.equal(b.config.rootfs.diff_ids, a.config.rootfs.diff_ids);
  for (const l of a.manifest.layers) assert.ok(a.blob(l.digest).equals(b.blob(l.digest)));
  assert.equal(b.config.history, a.config.history);
});

t.test('an opaque directory from an imported layer exports as .wh..wh..opq right after its directory, and umoci agrees with the local output', async () => {
  const base = await makeTar([
    { name: 'd/', type: 'directory' },
    { name: 'd/a.txt', body: 'a\n' },
    { name: 'd/b/', type: 'directory' },
    { name: 'd/b/c.txt', body: 'c\n' },
    { name: 'e.txt', body: 'e\n' },
  ]);
  const top = await makeTar([
    { name: 'd/', type: 'directory', mode: 0o700 },
    { name: 'd/.wh..wh..opq' },
    { name: 'd/new.txt', body: 'new\n' },
    { name: '.wh.e.txt' },
  ]);
  writeLayout(rig.path('base'), { layers: [base, top], tag: 'v1' });
  rig.write({ 'ctx/Dockerfile': 'FROM oci-layout://../base:v1\nENV A=1\n' });
  await build(rig, rig.path('ctx'), ['-o', `type=oci,dest=${rig.path('out')},tar=false`, '-o', `type=local,dest=${rig.path('local')}`]);
  const local = describeTree(rig.path('local'));
  assert.equal(local, ['d dir 700', `d/new.txt file 644 ${sha256('new\n').slice(0, 16)}`]);
  const ref = (JSON.parse(readFileSync(join(rig.path('out'), 'index.json'), 'utf8')) as OciIndexJson).manifests[0]!.annotations!['org.opencontainers.image.ref.name'];
  assert.equal(await umociTree(rig, `${rig.path('out')}:${ref}`, 'bundle'), local);
  const { manifest, blob } = readLayout(rig.path('out'));
  const names = (await listTar(blob(manifest.layers[1]!.digest))).map((l) => l.split(' ')[0]);
  assert.equal(names, ['d/', 'd/.wh..wh..opq', 'd/new.txt', '.wh.e.txt']);
});

t.test('long and non-ASCII names, odd modes and a 9 MB file survive export, umoci and import unchanged', async () => {
  const long = `${'a'.repeat(90)}/${'b'.repeat(90)}/${'c'.repeat(60)}.txt`;
  const big = Buffer.alloc(9 << 20);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
  rig.write({
    'ctx/Dockerfile': 'FROM scratch\nCOPY files/ /data/\n',
    [`ctx/files/${long}`]: 'long\n',
    'ctx/files/héllo wörld ✓.txt': 'unicode\n',
    'ctx/files/odd.sh': 'odd\n',
    'ctx/files/big.bin': big,
  });
  chmodSync(rig.path('ctx/files/odd.sh'), 0o741);
  await build(rig, rig.path('ctx'), ['-t', 'names:1', '-o', `type=oci,dest=${rig.path('names.tar')}`, '-o', `type=oci,dest=${rig.path('layout')},tar=false`, '-o', `type=local,dest=${rig.path('local')}`]);
  const local = describeTree(rig.path('local'));
  assert.ok(local.includes(`data/${long} file 644 ${sha256('long\n').slice(0, 16)}`));
  assert.ok(local.includes(`data/big.bin file 644 ${sha256(big).slice(0, 16)}`));
  assert.ok(local.includes(`data/odd.sh file 741 ${sha256('odd\n').slice(0, 16)}`));
  assert.equal(await umociTree(rig, `${rig.path('layout')}:1`, 'bundle'), local);
  const load = await runCli(['load', '--cache-dir', rig.path('store2'), rig.path('names.tar')]);
  assert.is(load.code, 0, load.stderr);
  const layers = async (store: string) => (JSON.parse((await runCli(['inspect', '--cache-dir', rig.path(store), 'names:1'])).stdout) as { RootFS: { Layers: string[] } }[])[0]!.RootFS.Layers;
  assert.equal(await layers('store2'), await layers('store'));
});

t.test('-o rejects bad archive specs with a usage error', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\n' });
  for (const [spec, msg] of [
    ['type=oci', /needs dest=PATH/],
    ['type=oci,dest=x,tar=maybe', /tar= takes true or false/],
    ['type=docker,dest=x,tar=false', /type=docker writes a tar archive/],
    ['type=oci,dest=x,compression=zstd', /does not take compression/],
    ['type=registry,dest=x', /--output type=registry does not take dest/],
  ] as const) {
    const r = await runCli(['build', '--cache-dir', rig.path('store'), '-o', spec, rig.path('ctx')]);
    assert.is(r.code, 2, spec);
    assert.match(r.stderr, msg);
  }
  // A directory that is neither empty nor a layout is never written into.
  rig.write({ 'mine/notes.txt': 'mine' });
  const r = await runCli(['build', '--cache-dir', rig.path('store'), '-o', `type=oci,dest=${rig.path('mine')},tar=false`, rig.path('ctx')]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /not empty and is not an OCI layout/);
  assert.equal(readdirSync(rig.path('mine')), ['notes.txt']);
});

t.run();

