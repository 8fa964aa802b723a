/**
 * The suite's context generator: the requested number of files, the same bytes for the same
 * options, and a Dockerfile whose dependency step really makes the requested files.
 * Also the small pure helpers the benchmarks share.
 */
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { suite, Rig } from './util/rig.js';
import { runCli } from './util/cli.js';
import { generateContext } from '../bench/generate.js';
import { listFiles, Mutation } from '../bench/tree.js';
import { median } from '../bench/stats.js';
import { parseNdjson } from '../bench/child.js';

const t = suite('bench generator', { timeoutMs: 60_000 });
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig();
});
t.afterEach(() => rig.cleanup());

t.test('makes the requested number of source files, plus five fixed ones', () => {
  const g = generateContext(rig.path('a'), { files: 1234, depFiles: 100 });
  const files = listFiles(rig.path('a'));
  assert.is(files.length, 1234 + 5);
  assert.is(g.files, files.length);
  assert.is(g.paths.length, files.length);
  assert.is(files.filter((f) => f.includes('/src/')).length, 1234);
  assert.is(g.bytes, files.reduce((n, f) => n + statSync(f).size, 0));
  for (const name of ['Dockerfile', '.dockerignore', 'deps.txt', 'tools/install.sh', 'tools/compile.sh']) assert.ok(g.paths.includes(name), name);
  assert.ok(g.incrementalFile.startsWith(rig.path('a', 'src')) && g.incrementalFile.endsWith('.js'));
  assert.is(g.topFile, rig.path('a', 'deps.txt'));
});

t.test('is deterministic: same options, same paths and bytes; another seed, other bytes', () => {
  const a = generateContext(rig.path('a'), { files: 300, depFiles: 50 });
  const b = generateContext(rig.path('b'), { files: 300, depFiles: 50 });
  const c = generateContext(rig.path('c'), { files: 300, depFiles: 50, seed: 2 });
  assert.equal(a.paths, b.paths);
  for (const p of a.paths) assert.ok(readFileSync(join(a.dir, p)).equals(readFileSync(join(b.dir, p))), p);
  const differ = a.paths.filter((p) => c.paths.includes(p) && !readFileSync(join(a.dir, p)).equals(readFileSync(join(c.dir, p))));
  assert.ok(differ.length > 250, `another seed changes the sources (${differ.length} differ)`);
});

t.test('mixes file sizes: small sources, some medium, a few large', () => {
  const g = generateContext(rig.path('a'), { files: 2000, depFiles: 10 });
  const sizes = g.paths.filter((p) => p.startsWith('src/')).map((p) => statSync(join(g.dir, p)).size);
  assert.ok(sizes.filter((s) => s < 4096).length > 1500);
  assert.ok(sizes.filter((s) => s >= 4096 && s < 65536).length > 100);
  assert.ok(sizes.filter((s) => s >= 65536).length >= 1);
});

t.test('the generated Dockerfile builds: the dependency step makes depFiles files, the compile step reads every source', async () => {
  const g = generateContext(rig.path('ctx'), { files: 120, depFiles: 75 });
  const r = await runCli(['build', '--progress=json', '--cache-dir', rig.path('store'), '--target', 'build', '-o', rig.path('out'), g.dir]);
  assert.is(r.code, 0, r.stderr);
  const deps = listFiles(rig.path('out/app/node_modules')).filter((f) => f.endsWith('.js'));
  assert.is(deps.length, 75);
  assert.is(readFileSync(rig.path('out/app/dist/index.txt'), 'utf8').trim().split('\n').length, g.paths.filter((p) => p.startsWith('src/') && p.endsWith('.js')).length);
  assert.ok(readdirSync(rig.path('out/app/src')).length > 0);
});

t.test('a Mutation changes a file to new content every time and restores it', () => {
  rig.write({ 'f.txt': 'hello\n' });
  const before = statSync(rig.path('f.txt'), { bigint: true });
  const m = new Mutation(rig.path('f.txt'));
  const seen = new Set<string>();
  for (let i = 0; i < 3; i++) {
    m.change();
    seen.add(rig.read('f.txt'));
    m.restore();
    assert.is(rig.read('f.txt'), 'hello\n');
  }
  assert.is(seen.size, 3);
  const drift = statSync(rig.path('f.txt'), { bigint: true }).mtimeNs - before.mtimeNs;
  assert.ok(drift > -1000n && drift < 1000n, `mtime restored to the microsecond (drift ${drift} ns)`);
});

t.test('median and NDJSON parsing', () => {
  assert.is(median([3, 1, 2]), 2);
  assert.is(median([4, 1, 2, 3]), 2.5);
  assert.equal(
    parseNdjson('{"type":"a"}\nnot json\n{"type":"b","cached":true}\n').map((e) => e.type),
    ['a', 'b'],
  );
});

t.run();
