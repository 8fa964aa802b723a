/**
 * Hostile and broken archives, one test per attack, each built here with tar-stream. Every
 * one must be refused with exit code 2 and a message naming the problem, store no image,
 * leave no staging folder behind, and write nothing outside the store.
 */
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { suite, Rig } from './util/rig.js';
import { runCli } from './util/cli.js';
import { makeTar, sha256, writeLayout, type LayoutSpec, type TarItem } from './util/oci-kit.js';

const t = suite('oci hostile archives', { timeoutMs: 60_000 });
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig('stratum-oci-hostile-');
  rig.write({ 'work/.keep': '' });
});
t.afterEach(() => rig.cleanup());

/** Everything under the rig except the store: what an import must never add to. */
function outsideStore(): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(rig.dir, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      if (r === 'store') continue;
      out.push(r);
      try {
        walk(r);
      } catch {
        // a file
      }
    }
  };
  walk('');
  return out.sort();
}

/** `stratum load <target>` must fail with exit 2 and `message`, and change nothing. */
async function refused(target: string, message: RegExp, extra: string[] = []): Promise<void> {
  const before = outsideStore();
  const r = await runCli(['load', '--cache-dir', rig.path('store'), target, ...extra]);
  assert.is(r.code, 2, `expected a refusal:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, message);
  assert.not.match(r.stderr, /internal error|at .*\.js:\d+/);
  assert.equal(outsideStore(), before, 'nothing is written outside the store');
  for (const p of ['/tmp/stratum-escape.txt', rig.path('escape.txt'), rig.path('work', 'escape.txt')]) assert.not.ok(existsSync(p), `${p} exists`);
  const images = await runCli(['images', '--cache-dir', rig.path('store'), '--format', 'json']);
  assert.is(images.stdout, '', 'no image was stored');
  const staging = rig.path('store', 'dirs', 'import');
  assert.equal(existsSync(staging) ? readdirSync(staging) : [], [], 'no staging folder is left');
}

/** A layout (directory) whose one layer is `items`, with correct digests unless tampered. */
async function evilLayout(items: TarItem[], spec: Partial<LayoutSpec> = {}): Promise<string> {
  const dir = rig.path('work', 'evil-layout');
  writeLayout(dir, { layers: [await makeTar(items)], tag: '1', imageName: 'docker.io/library/evil:1', ...spec });
  return dir;
}

// --- entries of a layer --------------------------------------------------------------------------

t.test('refuses a layer entry with ../ in its path', async () => {
  await refused(await evilLayout([{ name: 'ok.txt', body: 'ok' }, { name: '../../escape.txt', body: 'pwned' }]), /refusing entry "\.\.\/\.\.\/escape\.txt": a "\.\." path segment/);
});

t.test('refuses a layer entry hidden behind a/../..', async () => {
  await refused(await evilLayout([{ name: 'a/../../escape.txt', body: 'pwned' }]), /refusing entry "a\/\.\.\/\.\.\/escape\.txt": a "\.\." path segment/);
});

t.test('refuses a layer entry with an absolute path', async () => {
  await refused(await evilLayout([{ name: '/tmp/stratum-escape.txt', body: 'pwned' }]), /refusing entry "\/tmp\/stratum-escape\.txt": an absolute path/);
});

t.test('refuses a hardlink that points out of the layer', async () => {
  await refused(await evilLayout([{ name: 'passwd', type: 'link', linkname: '../../../etc/passwd' }]), /refusing entry "passwd": it hardlinks to "\.\.\/\.\.\/\.\.\/etc\/passwd", outside the layer/);
  await refused(await evilLayout([{ name: 'shadow', type: 'link', linkname: '/etc/shadow' }]), /refusing entry "shadow": it hardlinks to "\/etc\/shadow", outside the layer/);
  await refused(await evilLayout([{ name: 'shadow', type: 'link', linkname: 'etc/shadow' }]), /hardlinks to "etc\/shadow", which is not an earlier file of this layer/);
});

t.test('refuses entries written through a symlink of the same layer', async () => {
  await refused(
    await evilLayout([
      { name: 'out', type: 'symlink', linkname: '/' },
      { name: 'out/tmp/stratum-escape.txt', body: 'pwned' },
    ]),
    /refusing entry "out\/tmp\/stratum-escape\.txt": it lies beneath the symlink "out"/,
  );
});

t.test('refuses duplicate entries, and a whiteout and a file of one name', async () => {
  await refused(await evilLayout([{ name: 'a.txt', body: 'first' }, { name: 'a.txt', body: 'second' }]), /refusing entry "a\.txt": "a\.txt" appears twice in the layer/);
  await refused(await evilLayout([{ name: 'd/', type: 'directory' }, { name: 'd/.wh.x' }, { name: 'd/x', body: 'x' }]), /refusing entry "d\/x": "d\/x" appears twice/);
});

t.test('refuses entry types no filesystem has (a tape volume label); devices and fifos are layer entries now', async () => {
  const tar = await makeTar([{ name: 'label', body: '' }]);
  // Rewrite the type flag to 'V' (a GNU volume header) and fix the header checksum.
  tar[156] = 'V'.charCodeAt(0);
  tar.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += tar[i]!;
  tar.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  const dir = rig.path('work', 'evil-layout');
  writeLayout(dir, { layers: [tar], tag: '1', imageName: 'docker.io/library/evil:1' });
  await refused(dir, /refusing entry "label": entries of type unknown/);
  const ok = await runCli(['load', '--cache-dir', rig.path('store'), await evilLayout([{ name: 'dev/null', type: 'character-device' }, { name: 'pipe', type: 'fifo' }])]);
  assert.is(ok.code, 0, ok.stderr);
});

// --- digests and sizes ---------------------------------------------------------------------------

t.test('refuses a layer blob whose sha256 does not match its descriptor', async () => {
  const dir = await evilLayout([{ name: 'a.txt', body: 'genuine' }]);
  const manifest = JSON.parse(readFileSync(join(dir, 'blobs/sha256', (JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] }).manifests[0]!.digest.slice(7)), 'utf8')) as { layers: { digest: string }[] };
  const blob = join(dir, 'blobs/sha256', manifest.layers[0]!.digest.slice(7));
  // Same length, other content, still a valid gzipped tar: only the digest tells.
  const swapped = gzipSync(await makeTar([{ name: 'a.txt', body: 'swapped' }]));
  assert.is(swapped.length, readFileSync(blob).length);
  writeFileSync(blob, swapped);
  await refused(dir, new RegExp(`blob has sha256 ${sha256(swapped)}, its descriptor says ${manifest.layers[0]!.digest.slice(7)}`));
  // Corrupt bytes fail to unpack; the error still names the digest.
  const bad = Buffer.from(swapped);
  bad[bad.length - 5]! ^= 0xff;
  writeFileSync(blob, bad);
  await refused(dir, /blob has sha256 [0-9a-f]{64}, its descriptor says/);
});

t.test('refuses a layer whose size does not match its descriptor', async () => {
  await refused(await evilLayout([{ name: 'a.txt', body: 'a' }], { tamper: { layerSize: 0 } }), /blob is \d+ bytes, its descriptor says \d+/);
});

t.test('refuses a layer whose uncompressed digest does not match the config diff_ids', async () => {
  await refused(await evilLayout([{ name: 'a.txt', body: 'a' }], { tamper: { diffId: 0 } }), /uncompressed layer has sha256 [0-9a-f]{64}, the config's rootfs.diff_ids says/);
});

t.test('refuses a config or manifest that does not match its digest, and a digest that is a path', async () => {
  const dir = await evilLayout([{ name: 'a.txt', body: 'a' }]);
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const mPath = join(dir, 'blobs/sha256', index.manifests[0]!.digest.slice(7));
  const manifest = JSON.parse(readFileSync(mPath, 'utf8')) as { config: { digest: string } };
  const cPath = join(dir, 'blobs/sha256', manifest.config.digest.slice(7));
  const config = readFileSync(cPath);
  writeFileSync(cPath, config.toString().replace('amd64', 'arm64'));
  await refused(dir, /config sha256:[0-9a-f]{64}: blob has sha256/);
  writeFileSync(cPath, config);
  writeFileSync(mPath, readFileSync(mPath, 'utf8').replace('"schemaVersion":2', '"schemaVersion": 2'));
  await refused(dir, /manifest sha256:[0-9a-f]{64}: blob is \d+ bytes, its descriptor says/);
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha256:../../../../etc/passwd', size: 1 }] }));
  await refused(dir, /unsupported digest "sha256:\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd"/);
});

t.test('refuses a truncated layer', async () => {
  const tar = await makeTar([{ name: 'big.bin', body: Buffer.alloc(5000, 7) }]);
  await refused(await evilLayout([], { layers: [tar.subarray(0, 2048)] }), /Unexpected end of data/);
});

// --- the archive around the layers ---------------------------------------------------------------

/** An OCI archive (tar) holding a valid layout plus `extra` members. */
async function evilArchive(extra: TarItem[], opts: { before?: boolean } = {}): Promise<string> {
  const dir = rig.path('work', 'src-layout');
  writeLayout(dir, { layers: [await makeTar([{ name: 'a.txt', body: 'a' }])], tag: '1', imageName: 'docker.io/library/evil:1' });
  const members: TarItem[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      try {
        walk(r);
        members.push({ name: `${r}/`, type: 'directory' });
      } catch {
        members.push({ name: r, body: readFileSync(join(dir, r)) });
      }
    }
  };
  walk('');
  const path = rig.path('work', 'evil.tar');
  writeFileSync(path, await makeTar(opts.before ? [...extra, ...members] : [...members, ...extra]));
  return path;
}

t.test('refuses an archive member with ../ or an absolute path', async () => {
  await refused(await evilArchive([{ name: '../escape.txt', body: 'pwned' }]), /refusing entry "\.\.\/escape\.txt": a "\.\." path segment/);
  await refused(await evilArchive([{ name: '/tmp/stratum-escape.txt', body: 'pwned' }], { before: true }), /refusing entry "\/tmp\/stratum-escape\.txt": an absolute path/);
});

t.test('refuses archive links that point out of the archive', async () => {
  await refused(await evilArchive([{ name: 'blobs/sha256/link', type: 'symlink', linkname: '../../../../etc/passwd' }]), /refusing entry "blobs\/sha256\/link": it links to "\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd", outside the archive/);
  await refused(await evilArchive([{ name: 'abs', type: 'symlink', linkname: '/etc/passwd' }]), /it links to "\/etc\/passwd", outside the archive/);
  await refused(await evilArchive([{ name: 'hard', type: 'link', linkname: '../x' }]), /it links to "\.\.\/x", outside the archive/);
});

t.test('refuses duplicate archive members', async () => {
  await refused(await evilArchive([{ name: 'index.json', body: '{"schemaVersion":2,"manifests":[]}' }]), /refusing entry "index\.json": it appears twice in the archive/);
});

t.test('refuses a docker-archive whose manifest.json points outside the archive', async () => {
  const dir = rig.path('work', 'docker-dir');
  rig.write({
    'work/docker-dir/manifest.json': JSON.stringify([{ Config: 'config.json', RepoTags: ['evil:1'], Layers: ['../../../etc/passwd'] }]),
    'work/docker-dir/config.json': JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${sha256('x')}`] } }),
  });
  await refused(dir, /refusing member "\.\.\/\.\.\/\.\.\/etc\/passwd": a "\.\." path segment/);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify([{ Config: '/etc/passwd', RepoTags: ['evil:1'], Layers: [] }]));
  await refused(dir, /refusing member "\/etc\/passwd": an absolute path/);
});

t.test('FROM oci-layout:// refuses a hostile layout the same way', async () => {
  const dir = await evilLayout([{ name: '../../escape.txt', body: 'pwned' }]);
  rig.write({ 'work/ctx/Dockerfile': `FROM oci-layout://${dir}:1\n` });
  const r = await runCli(['build', '--progress=plain', '--cache-dir', rig.path('store'), rig.path('work', 'ctx')]);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /refusing entry "\.\.\/\.\.\/escape\.txt"/);
  assert.not.ok(existsSync(rig.path('escape.txt')));
});

t.run();
