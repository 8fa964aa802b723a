/** End-to-end builds of the instruction forms a Dockerfile author reaches for. */
import * as assert from 'uvu/assert';
import { statSync } from 'node:fs';
import { suite, Rig } from './util/rig.js';
import { runCli, type CliResult } from './util/cli.js';

const t = suite('build forms', { timeoutMs: 60_000 });
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig();
});
t.afterEach(() => rig.cleanup());

const build = (dockerfile: string, ...extra: string[]): Promise<CliResult> => {
  rig.write({ 'ctx/Dockerfile': dockerfile });
  return runCli(['build', '--progress=json', '--cache-dir', rig.path('store'), '-o', rig.path('out'), ...extra, rig.path('ctx')]);
};
const logs = (r: CliResult) => r.events.flatMap((e) => (e.type === 'step-log' ? [e.line] : []));

t.test('RUN --mount=type=cache keeps its contents between builds and out of the layer', async () => {
  rig.write({ 'ctx/v.txt': '1\n' });
  const df = [
    'FROM scratch',
    'COPY v.txt /',
    `RUN --mount=type=cache,target=/cache,id=demo sh -c 'echo "entries before: $(ls cache | wc -l)"; touch cache/run-$(cat v.txt); cp v.txt built.txt'`,
    '',
  ].join('\n');
  const a = await build(df);
  assert.is(a.code, 0, a.stderr);
  assert.ok(logs(a).includes('entries before: 0'), logs(a).join('|'));
  rig.write({ 'ctx/v.txt': '2\n' });
  const b = await build(df);
  assert.ok(logs(b).includes('entries before: 1'), 'the cache survived the first build');
  assert.not.ok(rig.exists('out/cache'), 'the cache mount is not part of the image');
  assert.is(rig.read('out/built.txt'), '2\n');
});

t.test('RUN heredocs run as scripts, COPY heredocs become files', async () => {
  const r = await build(
    [
      'FROM scratch',
      'ENV WHO=heredoc',
      'RUN <<EOT',
      'echo "hello from $WHO"',
      'echo line two > two.txt',
      'EOT',
      'COPY <<-CONF /etc/app.conf',
      '\tname=${WHO}',
      '\tCONF',
      "RUN <<'SCRIPT'",
      '#!/bin/sh',
      'echo "shebang ran"',
      'SCRIPT',
      '',
    ].join('\n'),
  );
  assert.is(r.code, 0, r.stderr);
  assert.ok(logs(r).includes('hello from heredoc'), logs(r).join('|'));
  assert.ok(logs(r).includes('shebang ran'));
  assert.is(rig.read('out/two.txt'), 'line two\n');
  assert.is(rig.read('out/etc/app.conf'), 'name=heredoc\n');
});

t.test('exec form, SHELL, WORKDIR and ENV reach the command', async () => {
  const r = await build(
    [
      'FROM scratch',
      'WORKDIR /work/dir',
      'ENV A=1 B="two words"',
      `RUN ["sh", "-c", "pwd | sed 's|.*/work/dir$|in workdir|'; echo \\"A=$A B=$B\\""]`,
      'SHELL ["/bin/sh", "-e", "-c"]',
      'RUN echo shell-set && echo > made-here',
      '',
    ].join('\n'),
  );
  assert.is(r.code, 0, r.stderr);
  assert.ok(logs(r).includes('in workdir'), logs(r).join('|'));
  assert.ok(logs(r).includes('A=1 B=two words'));
  assert.ok(rig.exists('out/work/dir/made-here'));
});

t.test('COPY --chmod, wildcards and a file to a new name', async () => {
  rig.write({ 'ctx/bin/tool.sh': 'echo\n', 'ctx/a.md': 'a', 'ctx/b.md': 'b', 'ctx/c.txt': 'c' });
  const r = await build(['FROM scratch', 'COPY --chmod=755 bin/tool.sh /usr/local/bin/tool', 'COPY *.md /docs/', 'COPY c.txt /renamed.txt', ''].join('\n'));
  assert.is(r.code, 0, r.stderr);
  assert.is(statSync(rig.path('out/usr/local/bin/tool')).mode & 0o777, 0o755);
  assert.ok(rig.exists('out/docs/a.md') && rig.exists('out/docs/b.md'));
  assert.is(rig.read('out/renamed.txt'), 'c');
});

t.test('-t stores an image that a later build can start FROM', async () => {
  rig.write({ 'ctx/base.txt': 'base\n' });
  const a = await build('FROM scratch\nENV FROM_BASE=yes\nCOPY base.txt /\n', '-t', 'mybase:1');
  assert.is(a.code, 0, a.stderr);
  rig.write({ 'ctx2/Dockerfile': 'FROM mybase:1\nRUN cat base.txt && echo "env $FROM_BASE"\n' });
  // The image has no shell (FROM scratch): Docker would refuse the RUN; the host executor runs it.
  const b = await runCli(['build', '--progress=json', '--executor=host', '--cache-dir', rig.path('store'), '-o', rig.path('out2'), rig.path('ctx2')]);
  assert.is(b.code, 0, b.stderr);
  assert.ok(logs(b).includes('base'));
  assert.ok(logs(b).includes('env yes'));
  assert.is(rig.read('out2/base.txt'), 'base\n');
});

t.test('FROM an image that is not in the store fails with a hint', async () => {
  // Not in the store, so stratum asks its registry (docker.io), which this machine cannot
  // reach: an I/O failure (exit 3) that says both.
  const r = await build('FROM node:20\nRUN echo hi\n');
  assert.is(r.code, 3, r.stderr);
  assert.match(r.stderr, 'base image "node:20" is not in the local store, and pulling it failed');
  assert.match(r.stderr, 'registry-1.docker.io');
  assert.match(r.stderr, 'stratum load');
});

t.test('--no-cache rebuilds every step and says why', async () => {
  rig.write({ 'ctx/a.txt': 'a' });
  await build('FROM scratch\nCOPY a.txt /\nRUN cp a.txt b.txt\n');
  const r = await build('FROM scratch\nCOPY a.txt /\nRUN cp a.txt b.txt\n', '--no-cache');
  const done = r.events.filter((e) => e.type === 'step-done' && e.layer !== null);
  assert.is(done.length, 2);
  for (const e of done) assert.ok(e.type === 'step-done' && !e.cached && e.reason === 'cache disabled (--no-cache)');
});

t.test('COPY --parents keeps each match\'s parent directories (BuildKit\'s ./ pivot too); and from a stage', async () => {
  const { chmodSync, readdirSync } = await import('node:fs');
  rig.write({ 'ctx/packages/foo/package.json': 'foo', 'ctx/packages/foo/src/i.js': 'i', 'ctx/packages/bar/package.json': 'bar', 'ctx/apps/baz/package.json': 'baz', 'ctx/x/y/a.txt': 'a', 'ctx/x/y/b.md': 'b' });
  chmodSync(rig.path('ctx/packages/bar'), 0o700);
  const file = 'FROM scratch\nCOPY --parents packages/*/package.json apps/*/package.json /app/\nCOPY --parents ./x/./y/*.txt /piv/\nCOPY --parents packages/foo/src /dirs/\n';
  const r = await build(file);
  assert.is(r.code, 0, r.stderr);
  assert.is(rig.read('out/app/packages/foo/package.json'), 'foo');
  assert.is(rig.read('out/app/packages/bar/package.json'), 'bar');
  assert.is(rig.read('out/app/apps/baz/package.json'), 'baz');
  assert.equal(readdirSync(rig.path('out/app/packages/foo')), ['package.json'], 'only the matches');
  assert.is(statSync(rig.path('out/app/packages/bar')).mode & 0o777, 0o700, 'a parent keeps its mode');
  assert.equal(readdirSync(rig.path('out/piv')), ['y'], 'kept from the pivot on');
  assert.is(rig.read('out/piv/y/a.txt'), 'a');
  assert.not.ok(rig.exists('out/piv/y/b.md'));
  assert.is(rig.read('out/dirs/packages/foo/src/i.js'), 'i', 'a directory source keeps its own path');
  // A package's manifest change misses that step, named; the steps after it follow their parent.
  rig.write({ 'ctx/packages/bar/package.json': 'bar2' });
  const again = await build(file);
  const missed = again.events.flatMap((e) => (e.type === 'step-done' && e.layer !== null && !e.cached ? [`${e.instruction}: ${e.reason}`] : []));
  assert.equal(missed, ['COPY --parents packages/*/package.json apps/*/package.json /app/: packages/bar/package.json changed', 'COPY --parents ./x/./y/*.txt /piv/: parent layer changed', 'COPY --parents packages/foo/src /dirs/: parent layer changed']);
  assert.is(rig.read('out/app/packages/bar/package.json'), 'bar2');
  // From a stage, the same: paths are the stage's, the pivot too.
  const from = await build('FROM scratch AS a\nCOPY x/ /src/x/\nCOPY packages/ /src/packages/\nFROM scratch\nCOPY --from=a --parents /src/./x/y/a.txt /src/./packages/*/package.json /dest/\nCOPY --from=a --parents /src/x /whole/\n');
  assert.is(from.code, 0, from.stderr);
  assert.is(rig.read('out/dest/x/y/a.txt'), 'a');
  assert.is(rig.read('out/dest/packages/bar/package.json'), 'bar2');
  assert.is(statSync(rig.path('out/dest/packages/bar')).mode & 0o777, 0o700, 'a parent keeps the stage\'s mode');
  assert.not.ok(rig.exists('out/dest/packages/foo/src'), 'only the matches');
  assert.is(rig.read('out/whole/src/x/y/b.md'), 'b', 'no pivot: the whole path');
});

t.test('ADD unpacks a local tar, tar.gz or tar.zst into the destination, as Docker does; a gzip that is not a tar is copied', async () => {
  const { execSync } = await import('node:child_process');
  rig.write({ 'ctx/pkg/bin/tool': '#!/bin/sh\n', 'ctx/pkg/doc.txt': 'doc\n', 'ctx/plain.txt': 'x' });
  execSync('chmod 755 pkg/bin/tool && ln -s bin/tool pkg/tool-link && ln pkg/doc.txt pkg/doc-hard && tar -czf pkg.tgz pkg && tar -cf flat.tar -C pkg doc.txt && echo not-a-tar | gzip > note.gz', { cwd: rig.path('ctx') });
  execSync('rm -r pkg', { cwd: rig.path('ctx') });
  const r = await build('FROM scratch\nADD plain.txt /\nADD pkg.tgz /opt/\nADD flat.tar note.gz /x/\n');
  assert.is(r.code, 0, r.stderr);
  assert.is(rig.read('out/opt/pkg/doc.txt'), 'doc\n');
  assert.is(statSync(rig.path('out/opt/pkg/bin/tool')).mode & 0o777, 0o755, 'modes as in the archive');
  assert.is((await import('node:fs')).readlinkSync(rig.path('out/opt/pkg/tool-link')), 'bin/tool');
  assert.is(statSync(rig.path('out/opt/pkg/doc-hard')).ino, statSync(rig.path('out/opt/pkg/doc.txt')).ino, 'a hard link stays one');
  assert.is(rig.read('out/x/doc.txt'), 'doc\n', 'a plain tar is unpacked too');
  assert.ok(rig.exists('out/x/note.gz'), 'a gzip of something that is not a tar is copied as it is');
  assert.not.ok(rig.exists('out/opt/pkg.tgz'));
  // The archive's bytes are its key: another archive rebuilds the step, the same one hits.
  const again = await build('FROM scratch\nADD plain.txt /\nADD pkg.tgz /opt/\nADD flat.tar note.gz /x/\n');
  assert.ok(again.events.every((e) => e.type !== 'step-done' || e.cached || e.layer === null));
  rig.write({ 'ctx/pkg/doc.txt': 'changed\n' });
  execSync('tar -czf pkg.tgz pkg', { cwd: rig.path('ctx') });
  const changed = await build('FROM scratch\nADD plain.txt /\nADD pkg.tgz /opt/\nADD flat.tar note.gz /x/\n');
  const add = changed.events.find((e) => e.type === 'step-done' && e.instruction === 'ADD pkg.tgz /opt/');
  assert.ok(add && add.type === 'step-done' && !add.cached && add.reason === 'pkg.tgz changed', JSON.stringify(add));
  assert.is(rig.read('out/opt/pkg/doc.txt'), 'changed\n');
});

t.test('ADD refuses an archive whose names escape the destination, naming the file', async () => {
  const { execSync } = await import('node:child_process');
  rig.write({ 'ctx/a.txt': 'a' });
  execSync('tar -cf evil.tar --absolute-names /etc/hostname 2>/dev/null || tar -cPf evil.tar /etc/hostname', { cwd: rig.path('ctx') });
  const evil = await build('FROM scratch\nADD evil.tar /x/\n');
  assert.is(evil.code, 2, evil.stderr);
  assert.match(evil.stderr, /Dockerfile:2.*refusing entry "\/etc\/hostname": an absolute path/);
  assert.not.ok(rig.exists('out/etc/hostname'));
  execSync('tar -cPf evil2.tar /etc/hostname && xz -k evil2.tar', { cwd: rig.path('ctx') });
  const evilXz = await build('FROM scratch\nADD evil2.tar.xz /x/\n');
  assert.is(evilXz.code, 2, evilXz.stderr);
  assert.match(evilXz.stderr, /ADD evil2\.tar\.xz: .*refusing entry "\/etc\/hostname"/);
});

t.test('ADD unpacks tar.xz and tar.bz2 as Docker does; an xz or bzip2 that holds no tar, or does not decompress, is copied as it is', async () => {
  const { execSync } = await import('node:child_process');
  rig.write({ 'ctx/root/bin/sh-tool': '#!/bin/sh\necho tool\n', 'ctx/root/etc/os-release': 'ID=test\n', 'ctx/root/big.txt': 'line of text\n'.repeat(50_000) });
  execSync('chmod 750 root/bin/sh-tool && ln -s ../etc/os-release root/bin/link && tar -cf rootfs.tar -C root . && xz -k rootfs.tar && bzip2 -k rootfs.tar && rm rootfs.tar && echo plain | xz > note.xz && echo plain | bzip2 > note.bz2', { cwd: rig.path('ctx') });
  execSync('rm -r root', { cwd: rig.path('ctx') });
  // The magic bytes of a bzip2 block, then junk: it looks like an archive and is not one.
  rig.write({ 'ctx/junk.tar.bz2': Buffer.concat([Buffer.from('BZh91AY&SY', 'latin1'), Buffer.alloc(64, 7)]) });
  const file = 'FROM scratch\nADD rootfs.tar.xz /\nADD rootfs.tar.bz2 /b/\nADD note.xz note.bz2 junk.tar.bz2 /n/\n';
  const r = await build(file);
  assert.is(r.code, 0, r.stderr);
  assert.is(rig.read('out/etc/os-release'), 'ID=test\n');
  assert.is(rig.read('out/big.txt'), 'line of text\n'.repeat(50_000));
  assert.is(statSync(rig.path('out/bin/sh-tool')).mode & 0o777, 0o750, 'modes as in the archive');
  assert.is((await import('node:fs')).readlinkSync(rig.path('out/bin/link')), '../etc/os-release');
  assert.is(rig.read('out/b/etc/os-release'), 'ID=test\n', 'bzip2 too');
  assert.is(rig.read('out/b/big.txt'), 'line of text\n'.repeat(50_000));
  assert.not.ok(rig.exists('out/rootfs.tar.xz'));
  for (const f of ['note.xz', 'note.bz2', 'junk.tar.bz2']) assert.ok(statSync(rig.path(`out/n/${f}`)).size > 0, `${f} is copied as a file`);
  assert.is(execSync('xz -dc out/n/note.xz', { cwd: rig.path('.') }).toString(), 'plain\n');
  // The archive's bytes are the key: the same build hits, a changed archive rebuilds only its step.
  const again = await build(file);
  assert.ok(again.events.every((e) => e.type !== 'step-done' || e.cached || e.layer === null));
  rig.write({ 'ctx/x/etc/os-release': 'ID=changed\n' });
  execSync('tar -cf - -C x . | xz > rootfs.tar.xz', { cwd: rig.path('ctx') });
  const changed = await build(file);
  const add = changed.events.find((e) => e.type === 'step-done' && e.instruction === 'ADD rootfs.tar.xz /');
  assert.ok(add && add.type === 'step-done' && !add.cached && add.reason === 'rootfs.tar.xz changed', JSON.stringify(add));
  assert.is(rig.read('out/etc/os-release'), 'ID=changed\n');
  // A cut-off one fails the step by name, and says why.
  execSync('head -c 200000 /dev/urandom > x/noise && tar -cf - -C x . | xz -0 > whole.tar.xz && head -c $(( $(stat -c %s whole.tar.xz) - 50 )) whole.tar.xz > cut.tar.xz', { cwd: rig.path('ctx') });
  const cut = await build('FROM scratch\nADD cut.tar.xz /\n');
  assert.is(cut.code, 2, cut.stderr);
  assert.match(cut.stderr, 'ADD cut.tar.xz: not a readable xz-compressed tar: invalid xz data: the data ends early');
});

t.test('RUN --mount=type=ssh reaches the agent given with --ssh; the key never enters the layer, and a required agent must be forwarded', async () => {
  const { execFileSync, spawn } = await import('node:child_process');
  const sock = rig.path('agent.sock');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'stratum-test-key', '-f', rig.path('id')]);
  const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 100 && !rig.exists('agent.sock'); i++) await new Promise((r) => setTimeout(r, 20));
    execFileSync('ssh-add', [rig.path('id')], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
    const df = 'FROM scratch\nWORKDIR /w\nRUN --mount=type=ssh,required=true ssh-add -l > keys.txt && echo "$SSH_AUTH_SOCK" > sock.txt\n';
    const r = await build(df, '--ssh', `default=${sock}`);
    assert.is(r.code, 0, r.stderr);
    assert.match(rig.read('out/w/keys.txt'), 'stratum-test-key (ED25519)');
    // FROM scratch runs the host's tools with the image's root in the workspace: the path is there.
    assert.match(rig.read('out/w/sock.txt'), /\/run\/buildkit\/ssh_agent\.0\n$/);
    assert.not.ok(rig.exists('out/run/buildkit/ssh_agent.0'), 'the socket is not in the layer');
    const missing = await build(df.replace('keys.txt', 'keys2.txt'));
    assert.is(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, 'ssh agent "default" is required but was not forwarded');
    const notSocket = await build(df, '--ssh', `default=${rig.path('id')}`);
    assert.is(notSocket.code, 2);
    assert.match(notSocket.stderr, 'is not an agent socket (key files are not forwarded)');
  } finally {
    agent.kill();
  }
});

t.run();
