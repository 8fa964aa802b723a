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

t.test('COPY --parents is refused rather than copied flat', async () => {
  rig.write({ 'ctx/a/b/c.txt': 'c' });
  const r = await build('FROM scratch\nCOPY --parents a/b/c.txt /dest/\n');
  assert.is(r.code, 2);
  assert.match(r.stderr, 'COPY --parents is not supported yet');
  assert.match(r.stderr, 'hint:');
});

t.test('ADD of a local archive is refused rather than copied unpacked', async () => {
  const { execSync } = await import('node:child_process');
  rig.write({ 'ctx/pkg/a.txt': 'a', 'ctx/plain.txt': 'x' });
  execSync('tar -czf pkg.tgz pkg', { cwd: rig.path('ctx') });
  const r = await build('FROM scratch\nADD plain.txt /\nADD pkg.tgz /opt/\n');
  assert.is(r.code, 2);
  assert.match(r.stderr, 'ADD pkg.tgz: unpacking local archives is not supported yet');
  assert.match(r.stderr, 'RUN tar -xf');
});

t.run();
