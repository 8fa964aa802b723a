/**
 * Importing images made by other tools: a layout built with umoci (layers from repack with
 * deletions, `insert --opaque`, `insert --whiteout`, config), used with `FROM oci-layout://`
 * and through `stratum load` + `FROM name`; a docker-archive written by skopeo; layouts with
 * several tags. The rootfs stratum builds on must equal what umoci itself unpacks.
 */
import * as assert from 'uvu/assert';
import { chmodSync, mkdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { suite, Rig } from './util/rig.js';
import { runCli, type CliResult } from './util/cli.js';
import { describeTree, sha256, tool } from './util/oci-kit.js';

const WEBAPP = fileURLToPath(new URL('../../examples/webapp', import.meta.url));

const t = suite('oci import', { timeoutMs: 120_000 });
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig('stratum-oci-import-');
});
t.afterEach(() => rig.cleanup());

// The imported bases here have no shell of their own: their RUNs use the host executor
// (the sandbox runs a RUN with the image's /bin/sh, which these images lack).
const cli = (args: string[], store = 'store') => runCli([...args.slice(0, 1), '--cache-dir', rig.path(store), ...(args[0] === 'build' ? ['--executor=host'] : []), ...args.slice(1)]);

async function ok(r: Promise<CliResult>): Promise<CliResult> {
  const res = await r;
  assert.is(res.code, 0, `${res.stdout}\n${res.stderr}`);
  return res;
}

/** An image made by umoci alone: three layers with a deletion, an opaque replacement and an
 *  explicit whiteout, plus config. Returns umoci's own unpacked rootfs description. */
async function umociImage(): Promise<string[]> {
  const L = rig.path('umoci-layout');
  await tool('umoci', ['init', '--layout', L]);
  await tool('umoci', ['new', '--image', `${L}:base`]);
  await tool('umoci', ['unpack', '--rootless', '--image', `${L}:base`, rig.path('work')]);
  const root = rig.path('work', 'rootfs');
  rig.write({
    'work/rootfs/etc/app.conf': 'v=1\n',
    'work/rootfs/bin/tool': '#!/bin/sh\necho tool\n',
    'work/rootfs/data/a.txt': 'a\n',
    'work/rootfs/data/b.txt': 'b\n',
    'work/rootfs/opt/old/1.txt': '1\n',
    'work/rootfs/opt/keep-not.txt': 'gone after opaque\n',
    'work/rootfs/tmp/scratch.txt': 's\n',
  });
  chmodSync(`${root}/bin/tool`, 0o755);
  symlinkSync('../etc/app.conf', `${root}/bin/conf-link`);
  await tool('umoci', ['repack', '--refresh-bundle', '--image', `${L}:base`, rig.path('work')]);
  // Second layer from repack: a deleted file and a changed one (umoci writes a whiteout).
  unlinkSync(`${root}/data/b.txt`);
  writeFileSync(`${root}/etc/app.conf`, 'v=2\n');
  await tool('umoci', ['repack', '--refresh-bundle', '--image', `${L}:base`, rig.path('work')]);
  // Third and fourth: /opt replaced as a whole (opaque) and /tmp removed (whiteout).
  rig.write({ 'newopt/fresh.txt': 'fresh\n' });
  await tool('umoci', ['insert', '--image', `${L}:base`, '--opaque', rig.path('newopt'), '/opt']);
  await tool('umoci', ['insert', '--image', `${L}:base`, '--whiteout', '/tmp']);
  await tool('umoci', ['config', '--image', `${L}:base`, '--config.env', 'GREETING=hello', '--config.workingdir', '/srv', '--config.label', 'made.by=umoci']);
  await tool('umoci', ['unpack', '--rootless', '--image', `${L}:base`, rig.path('reference')]);
  return describeTree(rig.path('reference', 'rootfs'));
}

const DOCKERFILE = (from: string) => `FROM ${from}\nRUN echo "$GREETING" > greeting.txt\n`;

t.test('a layout made by umoci builds with FROM oci-layout://, on exactly the rootfs umoci unpacks', async () => {
  const reference = await umociImage();
  assert.ok(reference.includes('opt/fresh.txt file 644 ' + sha256('fresh\n').slice(0, 16)), reference.join('\n'));
  assert.not.ok(reference.some((l) => l.startsWith('opt/old') || l.startsWith('tmp') || l.startsWith('data/b.txt')));

  rig.write({ 'ctx/Dockerfile': DOCKERFILE(`oci-layout://${rig.path('umoci-layout')}:base`) });
  const r = await ok(cli(['build', '--progress=plain', '-t', 'derived:1', '-o', `type=local,dest=${rig.path('local')}`, rig.path('ctx')]));
  const local = describeTree(rig.path('local'));
  // The base config reached the build: WORKDIR /srv and GREETING from umoci's config.
  const expected = [...reference, 'srv dir 755', `srv/greeting.txt file 644 ${sha256('hello\n').slice(0, 16)}`].sort();
  assert.equal(local, expected);

  const history = await ok(cli(['history', 'derived:1', '--format', 'json']));
  const rows = history.stdout.trim().split('\n').map((l) => JSON.parse(l) as { CreatedBy: string; EmptyLayer: boolean; ID: string | null });
  assert.is(rows.filter((h) => !h.EmptyLayer).length, 5, history.stdout); // 4 umoci layers + RUN
  const inspect = JSON.parse((await ok(cli(['inspect', 'derived:1']))).stdout) as { Config: { Labels: Record<string, string>; Env: string[] } }[];
  assert.equal(inspect[0]!.Config.Labels, { 'made.by': 'umoci' });
  assert.ok(inspect[0]!.Config.Env.includes('GREETING=hello'));

  // A rebuild resolves the base from the store: every step hits.
  const again = await ok(cli(['build', '--progress=plain', '-t', 'derived:1', rig.path('ctx')]));
  assert.match(again.stderr, /1 cached, 0 built/);
  void r;
});

t.test('stratum load of the umoci layout (named with -t) and FROM NAME build the same chain as FROM oci-layout://', async () => {
  await umociImage();
  const L = rig.path('umoci-layout');
  const noName = await cli(['load', L]);
  assert.is(noName.code, 2);
  assert.match(noName.stderr, /carries no image name/);
  assert.match(noName.stderr, /-t NAME/);
  const loaded = await ok(cli(['load', L, '-t', 'base:umoci']));
  assert.is(loaded.stdout, 'Loaded image: base:umoci\n');

  rig.write({ 'a/Dockerfile': DOCKERFILE('base:umoci'), 'b/Dockerfile': DOCKERFILE(`oci-layout://${L}:base`) });
  await ok(cli(['build', '-t', 'x:a', rig.path('a')]));
  await ok(cli(['build', '-t', 'x:b', rig.path('b')]));
  const ids = JSON.parse((await ok(cli(['inspect', 'x:a', 'x:b', 'base:umoci']))).stdout) as { Id: string; RootFS: { Layers: string[] } }[];
  assert.is(ids[0]!.Id, ids[1]!.Id);
  assert.equal(ids[0]!.RootFS.Layers.slice(0, 4), ids[2]!.RootFS.Layers);
});

t.test('a docker-archive written by skopeo loads under its RepoTags with the layers stratum exported', async () => {
  await ok(cli(['build', '-t', 'webapp:dev', '-o', `type=oci,dest=${rig.path('layout')},tar=false`, WEBAPP]));
  await tool('skopeo', ['copy', `oci:${rig.path('layout')}:dev`, `docker-archive:${rig.path('skopeo.tar')}:team/webapp:copied`]);
  await ok(cli(['load', rig.path('skopeo.tar')], 'store2'));
  const [orig] = JSON.parse((await ok(cli(['inspect', 'webapp:dev']))).stdout) as { Id: string }[];
  const [copy] = JSON.parse((await ok(cli(['inspect', 'team/webapp:copied'], 'store2'))).stdout) as { Id: string; Config: { Cmd: string[] } }[];
  assert.is(copy!.Id, orig!.Id);
  assert.equal(copy!.Config.Cmd, ['sh', '/srv/run.sh']);
});

t.test('a layout with several tags loads every image under its own name; FROM picks a tag, and names the tags it has when one is missing', async () => {
  const layout = rig.path('layout');
  rig.write({ 'one/Dockerfile': 'FROM scratch\nCOPY f.txt /\n', 'one/f.txt': 'one\n', 'two/Dockerfile': 'FROM scratch\nCOPY f.txt /\n', 'two/f.txt': 'two\n' });
  await ok(cli(['build', '-t', 'multi:one', '-o', `type=oci,dest=${layout},tar=false`, rig.path('one')]));
  await ok(cli(['build', '-t', 'multi:two', '-o', `type=oci,dest=${layout},tar=false`, rig.path('two')]));
  const loaded = await ok(cli(['load', layout], 'store2'));
  assert.is(loaded.stdout, 'Loaded image: multi:one\nLoaded image: multi:two\n');
  const tooMany = await cli(['load', layout, '-t', 'x:y'], 'store2');
  assert.is(tooMany.code, 2);
  assert.match(tooMany.stderr, /holds 2 images; -t can name only one/);

  rig.write({ 'use/Dockerfile': `FROM oci-layout://${layout}:two\n` });
  await ok(cli(['build', '-o', `type=local,dest=${rig.path('out')}`, rig.path('use')], 'store3'));
  assert.equal(describeTree(rig.path('out')), [`f.txt file 644 ${sha256('two\n').slice(0, 16)}`]);

  rig.write({ 'bad/Dockerfile': `FROM oci-layout://${layout}:three\n`, 'untagged/Dockerfile': `FROM oci-layout://${layout}\n` });
  const missing = await cli(['build', '--progress=plain', rig.path('bad')], 'store3');
  assert.is(missing.code, 2);
  assert.match(missing.stderr, /no image tagged "three"/);
  assert.match(missing.stderr, /tags in this layout: one, two/);
  const ambiguous = await cli(['build', '--progress=plain', rig.path('untagged')], 'store3');
  assert.is(ambiguous.code, 2);
  assert.match(ambiguous.stderr, /2 images and none tagged "latest"/);
});

t.test('FROM oci-layout:// of an archive file or a missing directory says what to do', async () => {
  await ok(cli(['build', '-t', 'webapp:dev', '-o', `type=oci,dest=${rig.path('webapp.tar')}`, WEBAPP]));
  rig.write({ 'tar/Dockerfile': `FROM oci-layout://${rig.path('webapp.tar')}:dev\n`, 'none/Dockerfile': 'FROM oci-layout://./nowhere:v1\n' });
  const tar = await cli(['build', '--progress=plain', rig.path('tar')]);
  assert.is(tar.code, 2);
  assert.match(tar.stderr, /is not a directory/);
  assert.match(tar.stderr, /stratum load/);
  const none = await cli(['build', '--progress=plain', rig.path('none')]);
  assert.is(none.code, 2);
  assert.match(none.stderr, new RegExp(`${rig.path('none', 'nowhere')} is not a directory`));
  mkdirSync(rig.path('none', 'nowhere'));
  const empty = await cli(['build', '--progress=plain', rig.path('none')]);
  assert.is(empty.code, 2);
  assert.match(empty.stderr, /is not an OCI layout \(no index.json\)/);
  rmSync(rig.path('none', 'nowhere'), { recursive: true });
});

t.run();
