/**
 * Issue 12, items 5 and 8: --metadata-file and the GitHub job summary; plain output in
 * BuildKit's shape; every JSON event carries the schema version.
 */
import * as assert from 'uvu/assert';
import { readFileSync, existsSync, readdirSync } from 'node:fs';
import { suite, Rig } from './util/rig.js';
import { runCli } from './util/cli.js';
import { tool } from './util/oci-kit.js';
import { quote } from '../cli/reporters/plain.js';

const t = suite('cli12 ci and plain', { timeoutMs: 60_000 });
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig();
});
t.afterEach(() => rig.cleanup());

t.test('--metadata-file writes the result atomically; $GITHUB_STEP_SUMMARY gets markdown', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nCOPY a /\nENV X=1\nRUN cp a b\n', 'ctx/a': 'a\n', 'summary.md': '# earlier\n' });
  const args = ['build', '--progress=plain', '--cache-dir', rig.path('store'), '-t', 'app:dev', '-o', rig.path('out'), '--metadata-file', rig.path('meta.json'), rig.path('ctx')];
  const env = { GITHUB_STEP_SUMMARY: rig.path('summary.md') };
  const r = await runCli(args, { env });
  assert.is(r.code, 0, r.stderr);
  const meta = JSON.parse(readFileSync(rig.path('meta.json'), 'utf8'));
  assert.is(meta.ok, true);
  assert.is(meta['image.name'], 'app:dev');
  assert.match(meta['containerimage.digest'], /^sha256:[0-9a-f]{64}$/);
  assert.match(meta.image.chain, /^[0-9a-f]{64}$/);
  assert.is.not(meta['containerimage.digest'], `sha256:${meta.image.chain}`, 'the manifest digest, not the chain digest');
  assert.is(meta.image.layers.length, 2);
  assert.equal(meta.tags, ['app:dev']);
  assert.equal(meta.outputs, [{ type: 'local', dest: rig.path('out') }]);
  assert.equal([meta.hits, meta.misses], [0, 2]);
  assert.equal(readdirSync(rig.path('.')).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');
  const again = await runCli(args, { env });
  assert.equal(JSON.parse(readFileSync(rig.path('meta.json'), 'utf8')).hits, 2);
  const md = readFileSync(rig.path('summary.md'), 'utf8');
  assert.ok(md.startsWith('# earlier\n'), 'appended, not replaced');
  assert.is(md.split('### stratum build').length - 1, 2);
  assert.match(md, /\| 0 \| 2 \|/);
  assert.match(md, /\| 2 \| 0 \|/);
  assert.match(md, /- tag `app:dev`/);
  assert.is(again.code, 0);
});

t.test('--metadata-file: containerimage.digest is the OCI manifest digest skopeo reports for the exported image', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nCOPY a /\nRUN cp a b\nCMD ["/b"]\n', 'ctx/a': 'a\n' });
  const base = ['build', '--progress=plain', '--cache-dir', rig.path('store'), '-t', 'app:1'];
  // First without any export: the digest is computed from the layers alone.
  const bare = await runCli([...base, '--metadata-file', rig.path('bare.json'), rig.path('ctx')]);
  assert.is(bare.code, 0, bare.stderr);
  const r = await runCli([...base, '-o', `type=oci,dest=${rig.path('app.tar')}`, '--metadata-file', rig.path('meta.json'), rig.path('ctx')]);
  assert.is(r.code, 0, r.stderr);
  const meta = JSON.parse(readFileSync(rig.path('meta.json'), 'utf8'));
  const inspect = JSON.parse((await tool('skopeo', ['inspect', `oci-archive:${rig.path('app.tar')}`])).stdout) as { Digest: string };
  assert.is(meta['containerimage.digest'], inspect.Digest);
  assert.is(JSON.parse(readFileSync(rig.path('bare.json'), 'utf8'))['containerimage.digest'], inspect.Digest, 'the same digest without an export');
  assert.is(meta['containerimage.descriptor'].digest, inspect.Digest);
  assert.is(meta['containerimage.descriptor'].mediaType, 'application/vnd.oci.image.manifest.v1+json');
  const raw = (await tool('skopeo', ['inspect', '--raw', `oci-archive:${rig.path('app.tar')}`])).stdout;
  assert.is(meta['containerimage.descriptor'].size, Buffer.byteLength(raw));
  const config = JSON.parse(raw) as { config: { digest: string } };
  assert.is(meta['containerimage.config.digest'], config.config.digest);
  assert.match(meta.image.chain, /^[0-9a-f]{64}$/, 'the chain digest stays, under image.chain');
});

t.test('a failed build still writes its metadata (ok false, the error code)', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nRUUN x\n' });
  const r = await runCli(['build', '--progress=plain', '--cache-dir', rig.path('store'), '--metadata-file', rig.path('m.json'), rig.path('ctx')]);
  assert.is(r.code, 2);
  const meta = JSON.parse(readFileSync(rig.path('m.json'), 'utf8'));
  assert.is(meta.ok, false);
  assert.is(meta.error.code, 'DF_UNKNOWN_INSTRUCTION');
  assert.ok(!existsSync(rig.path('m.json.tmp')));
});

t.test('plain: blank lines between vertices, metadata steps unnumbered, outputs and tags named', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nENV X=1\nCOPY a /\nLABEL l=1\nRUN cp a b\n', 'ctx/a': 'a\n' });
  const r = await runCli(['build', '--progress=plain', '--cache-dir', rig.path('store'), '-t', 'app:dev', '-o', rig.path('out'), rig.path('ctx')]);
  assert.is(r.code, 0, r.stderr);
  const s = r.stderr;
  assert.match(s, /\n\n#1 \[0 1\/5\] FROM scratch\n#1 DONE/);
  assert.match(s, /\n\n#2 \[0 3\/5\] COPY a \/\n/);
  assert.match(s, /\n\n#3 \[0 5\/5\] RUN cp a b\n/);
  assert.not.match(s, /ENV X=1|LABEL/);
  assert.match(s, /\n\n#4 exporting image [0-9a-f]{12}\n#4 writing output .*out done\n#4 naming to app:dev done\n/);
});

t.test('plain: a failed RUN quotes its Dockerfile lines with >>>', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nCOPY a /\nRUN echo boom && \\\n  false\n', 'ctx/a': 'a\n' });
  const r = await runCli(['build', '--progress=plain', '--cache-dir', rig.path('store'), '.'], { cwd: rig.path('ctx') });
  assert.is(r.code, 1);
  assert.match(r.stderr, /#3 ERROR: .*\n------\n > \[0 3\/3\] RUN echo boom && false:\nboom\n------\nDockerfile:3\n-{20}\n  1 \|     FROM scratch\n  2 \|     COPY a \/\n  3 \| >>> RUN echo boom && \\\n  4 \| >>>   false\n-{20}\n/);
});

t.test('quote: context lines, continuation lines, out of range', () => {
  assert.equal(quote('A\nB\nC\n', 1), ['  1 | >>> A']);
  assert.equal(quote(undefined, 1), []);
  assert.equal(quote('A\n', 9), []);
});

t.test('json: every event carries "v":1 first', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nCOPY a /\n', 'ctx/a': 'a\n' });
  const r = await runCli(['build', '--progress=json', '--cache-dir', rig.path('store'), rig.path('ctx')]);
  const lines = r.stdout.trim().split('\n');
  assert.ok(lines.length > 3);
  for (const l of lines) assert.ok(l.startsWith('{"v":1,"type":'), l);
});

t.run();
