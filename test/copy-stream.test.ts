/**
 * A COPY of one context directory is keyed while the context is walked (engine/copy.ts
 * copyTree, ContextReader.each): its rows are hashed in sorted order without a row array or
 * an entry per file. Its key must stay the one earlier versions made, or every store and
 * remote cache would miss: the files digests below were computed by the version before the
 * streaming walk (main at e813e1c) on the same tree, whose names sort differently by path
 * and by directory walk (`a`, `a-b`, `a.d`, `a.js`, `a/…`), need JSON escapes, and include
 * symlinks followed into their own parent.
 */
import * as assert from 'uvu/assert';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite, Rig } from './util/rig.js';
import { runCli, stepsDone } from './util/cli.js';
import { ContextReader } from '../engine/context.js';
import { createMatcher } from '../engine/dockerignore.js';
import { copyFromContext } from '../engine/copy.js';
import { FileListWriter, filesDigest, fileListOf, type FileRow } from '../engine/step-key.js';
import type { ViewLike } from '../engine/workspace.js';
import type { Instruction } from '../engine/dockerfile/types.js';

const t = suite('COPY keyed while walking');
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig();
});
t.afterEach(() => rig.cleanup());

const FILES: Record<string, string> = {
  'src/a.js': '1',
  'src/a/x': '2',
  'src/a/x.y/z': '2b',
  'src/a-b/y': '3',
  'src/a.d/z': '4',
  'src/b/k.log': '5',
  'src/q"uo\\te/f': '6',
  'src/ünï/g': '7',
  'src/a/b/c/d.txt': '8',
  'src/A': '9',
  'src/a0.txt': '10',
  'src/ctl\u0001/h': '11',
  'top.txt': 't',
};
const DIRS = ['', 'src', 'src/a', 'src/a/x.y', 'src/a-b', 'src/a.d', 'src/b', 'src/q"uo\\te', 'src/ünï', 'src/a/b', 'src/a/b/c', 'src/ctl\u0001'];

/** The tree, with every mode set (the digests must not depend on the umask). */
function fixture(root: string): void {
  for (const [rel, c] of Object.entries(FILES)) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), c);
  }
  symlinkSync('../a.js', join(root, 'src/b/link'));
  symlinkSync('a', join(root, 'src/a0'));
  symlinkSync('src', join(root, 'srclink'));
  symlinkSync('.', join(root, 'src/a/self'));
  for (const d of DIRS) chmodSync(join(root, d), 0o750);
  for (const rel of Object.keys(FILES)) chmodSync(join(root, rel), rel === 'src/a.js' ? 0o600 : rel === 'src/a/x' ? 0o755 : 0o644);
}

/** [source, --exclude, files digest, rows] as the earlier version computed them. */
const GOLDEN: [string, string | null, string, number][] = [
  ['src/', null, 'b3685a4647e084e9906961bee421e1eaade44f2a82d2fe689476a6d8a05ab850', 26],
  ['.', null, 'c2ffa43e879af14dfca5341e3b1823bf8c77f3415eaec21f3564cb906acc29e8', 29],
  ['srclink', null, 'cbf15e5df812aba3262572f66a698bf5aa5a6c2abe48f47fa6efd9d1efacc842', 26],
  ['src/a', null, '44eab408fca91b61e9cbc233783b9cbcdf9be770fd3c0d5b44bf0fa7c931aa36', 8],
  ['src/a*', null, '88a12f982e4014d77d0313885e17cb31cfca83a018d7744aa06c85a5781af05e', 15],
  ['src/', 'a/**', '52d9e4bce10070b6b4c6d7e82eb2d2e2618e524fa7045566d2d37d3a4e1f4ade', 19],
  ['src/', 'b/*.log', '3085da0bbd3c8a0d816b5fa3070dd5afab6e6b5ebca416459ba3c78615e281b9', 25],
  ['src/a/self', null, '0c5618b0ab8d4535d8459a7863adae6618b2b209300daff9cff2560b18d640fa', 7],
];

const EMPTY: ViewLike = { get: () => undefined, entries: () => [][Symbol.iterator](), keys: () => [][Symbol.iterator]() } as unknown as ViewLike;
const copyOf = (source: string, exclude: string | null) => ({ kind: 'COPY', sources: [source], dest: '/d/', exclude: exclude ? [exclude] : [], heredocs: [] }) as unknown as Extract<Instruction, { kind: 'COPY' }>;

t.test('the files digest of a streamed COPY is the one the earlier version made, for both kinds of reader', () => {
  fixture(rig.path('ctx'));
  for (const retain of [false, true]) {
    for (const [source, exclude, digest, count] of GOLDEN) {
      const ctx = new ContextReader(rig.path('ctx'), createMatcher([], undefined), undefined, [], { retain });
      const c = copyFromContext(copyOf(source, exclude), '/', ctx, EMPTY);
      assert.is(c.files!.digest, digest, `${source} --exclude=${exclude} (retain ${retain})`);
      assert.is(c.files!.count, count);
      // The rows the digest stands for, and the history's blob bytes, are the same list.
      assert.is(filesDigest(c.files!.rows()), digest);
      assert.is(c.files!.json().toString('utf8'), JSON.stringify(c.files!.rows()));
    }
  }
});

t.test('a streamed COPY lays out the same entries and blobs as the rows say', () => {
  fixture(rig.path('ctx'));
  const ctx = new ContextReader(rig.path('ctx'), createMatcher([], undefined), undefined, [], { retain: false });
  const c = copyFromContext(copyOf('src/', null), '/', ctx, EMPTY);
  const byPath = new Map(c.entries.map((e) => [e.path, e]));
  assert.is(byPath.get('d')?.type, 'dir', 'the destination directory');
  assert.equal(byPath.get('d/a.js'), { path: 'd/a.js', type: 'file', mode: 0o600, size: 1, digest: c.files!.rows().find((r) => r[0] === 'src/a.js')![3] });
  assert.equal(byPath.get('d/b/link'), { path: 'd/b/link', type: 'symlink', mode: 0o777, target: '../a.js' });
  assert.is(byPath.get('d/a/x.y')?.type, 'dir');
  assert.is(c.entries.length, 26, 'the source dir itself is not an entry; the destination is');
  assert.is(c.blobs.length, 12);
  for (const b of c.blobs) assert.ok(b.abs.startsWith(rig.path('ctx/src/')), b.abs);
});

t.test('FileListWriter refuses rows out of path order (a walk bug would change keys)', () => {
  const w = new FileListWriter();
  w.add('a/x', 'f', 0o644, '00');
  assert.throws(() => w.add('a.js', 'f', 0o644, '00'), /out of order/);
  const rows: FileRow[] = [['a', 'd', 0o755, ''], ['a.js', 'f', 0o644, 'ab'], ['a/x', 'l', 0o777, 'q"\\']];
  const ok = new FileListWriter();
  for (const r of rows) ok.add(...r);
  assert.is(ok.finish().digest, fileListOf(rows).digest);
  // Past the rows a writer holds (32,768) and many 64 KiB pieces: eachRow parses piece by piece
  // and sees the same rows as rows().
  const many = new FileListWriter();
  const big: FileRow[] = [];
  for (let i = 0; i < 33_000; i++) big.push([`d/${String(i).padStart(5, '0')}-ü"`, 'f', 0o644, 'ab'.repeat(32)]);
  for (const r of big) many.add(...r);
  const list = many.finish();
  assert.is(list.digest, filesDigest(big));
  const seen: FileRow[] = [];
  list.eachRow((r, i) => {
    assert.is(i, seen.length);
    seen.push(r);
  });
  assert.equal(seen, big);
  assert.equal(list.rows(), big);
  assert.ok(list.rows() !== list.rows(), 'a long list is parsed per call, not held');
  const short = new FileListWriter();
  for (const r of big.slice(0, 3000)) short.add(...r);
  const sl = short.finish();
  assert.ok(sl.rows() === sl.rows(), 'a short one is held');
  assert.equal(sl.rows(), big.slice(0, 3000));
  assert.is(sl.digest, filesDigest(big.slice(0, 3000)));
  // keepRows (watch mode): the same digest, JSON and rows, held instead of parsed back.
  const kept = new FileListWriter({ keepRows: true });
  for (const r of big) kept.add(...r);
  const k = kept.finish();
  assert.is(k.digest, list.digest);
  assert.ok(k.json().equals(list.json()));
  assert.equal(k.rows(), big);
  assert.ok(k.rows() === k.rows(), 'held, not parsed per call');
  const each: FileRow[] = [];
  k.eachRow((r) => each.push(r));
  assert.equal(each, big);
});

t.test('a one-shot build hits its own keys again and explains a changed file by path', async () => {
  fixture(rig.path('ctx'));
  writeFileSync(rig.path('ctx/Dockerfile'), 'FROM scratch\nCOPY src/ /app/\nCOPY top.txt /app/\n');
  const build = () => runCli(['build', '--progress=json', '--cache-dir', rig.path('store'), rig.path('ctx')]);
  const first = await build();
  assert.is(first.code, 0, first.stderr);
  const again = await build();
  assert.equal(stepsDone(again).filter((e) => !('metadata' in e && e.metadata)).map((e) => e.cached), [true, true]);
  writeFileSync(rig.path('ctx/src/a.d/z'), 'changed');
  const third = await build();
  const copy = stepsDone(third).find((e) => e.instruction === 'COPY src/ /app/')!;
  assert.is(copy.cached, false);
  assert.is(copy.reason, 'src/a.d/z changed');
});

t.run();
