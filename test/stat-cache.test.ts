/**
 * The context's binary stat cache (engine/stat-cache.ts): a damaged, truncated or other-version
 * file is an empty cache (every file hashed again, the right digests), never a wrong hit; what
 * a warm build must still see (renames, deletions, a file replaced by a directory) it sees;
 * rows are saved in walk order and dropped once their file is gone. Through the reader's work
 * counters on real files, and through the real CLI.
 */
import * as assert from 'uvu/assert';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite, Rig } from './util/rig.js';
import { runCli, type CliResult } from './util/cli.js';
import { createStore } from '../cache/store.js';
import { xxh64 } from '../cache/hash.js';
import { ContextReader } from '../engine/context.js';
import { createMatcher } from '../engine/dockerignore.js';
import { STAT_CACHE_VERSION, StatCache } from '../engine/stat-cache.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const t = suite('stat cache', { timeoutMs: 60_000 });
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig();
});
t.afterEach(() => rig.cleanup());

const FILES = 40;

/** A context of FILES files, hashed once and saved, old enough to be trusted. */
async function primed(): Promise<{ store: ReturnType<typeof createStore>; truth: Map<string, string>; cacheFile: string }> {
  const files: Record<string, string> = {};
  for (let i = 0; i < FILES; i++) files[`ctx/src/d${i % 4}/f${i}.txt`] = `content of file ${i}\n`;
  rig.write(files);
  await sleep(80); // past the racy window
  const store = createStore(rig.path('store'));
  const first = read(store);
  assert.is(first.hashed, FILES);
  const dir = rig.path('store', readdirSync(rig.path('store')).find((d) => d.startsWith('docs-'))!, 'contexts');
  const bins = readdirSync(dir).filter((f) => f.endsWith('.bin'));
  assert.is(bins.length, 1, 'one binary stat cache for the context');
  return { store, truth: first.digests, cacheFile: join(dir, bins[0]!) };
}

function read(store: ReturnType<typeof createStore>, sources = ['src']): { hashed: number; digests: Map<string, string> } {
  const ctx = new ContextReader(rig.path('ctx'), createMatcher([], undefined), store);
  const digests = new Map<string, string>();
  for (const s of sources) for (const m of ctx.select(s)) for (const c of m.children) if (c.type === 'file') digests.set(c.rel, c.digest!);
  ctx.save();
  return { hashed: ctx.hashed, digests };
}

/** The binary document's payload offset: magic, header length, header. */
const payloadAt = (buf: Buffer) => 8 + buf.readUInt32LE(4);

t.test('a warm read of a primed context hashes nothing and gives the same digests', async () => {
  const { store, truth } = await primed();
  const warm = read(store);
  assert.is(warm.hashed, 0);
  assert.equal(warm.digests, truth);
});

t.test('a damaged stat cache (any byte flipped) is an empty cache: every file hashed, right digests', async () => {
  const { store, truth, cacheFile } = await primed();
  const good = readFileSync(cacheFile);
  const at = payloadAt(good);
  const n = FILES;
  const body = at + 32;
  // One byte in each region: the envelope, the header, the numbers, the modes, the flags,
  // the digests, the paths, the checksum.
  const offsets = [0, 5, 10, at, at + 9, at + 18, body + 1, body + n * 32 + 1, body + n * 36, body + n * 37 + 5, body + n * 69 + 3, good.length - 1];
  for (const off of offsets) {
    const bad = Buffer.from(good);
    bad[off] = bad[off]! ^ 0x5a;
    writeFileSync(cacheFile, bad);
    const r = read(store);
    assert.is(r.hashed, FILES, `byte ${off} flipped: every file hashed again`);
    assert.equal(r.digests, truth, `byte ${off} flipped: the right digests`);
    assert.is(read(store).hashed, 0, `byte ${off} flipped: the cache was written anew`);
  }
});

t.test('a truncated, empty or junk stat cache is an empty cache, then rewritten', async () => {
  const { store, truth, cacheFile } = await primed();
  const good = readFileSync(cacheFile);
  for (const len of [0, 3, 8, payloadAt(good), payloadAt(good) + 31, Math.floor(good.length / 2), good.length - 1]) {
    writeFileSync(cacheFile, good.subarray(0, len));
    const r = read(store);
    assert.is(r.hashed, FILES, `truncated to ${len} bytes: every file hashed`);
    assert.equal(r.digests, truth);
    assert.is(read(store).hashed, 0);
  }
  writeFileSync(cacheFile, Buffer.concat([good, Buffer.from('trailing junk')]));
  assert.is(read(store).hashed, FILES, 'bytes past the end: not trusted');
});

t.test('a stat cache of another version, even with a valid checksum, is not read', async () => {
  const { store, truth, cacheFile } = await primed();
  const good = readFileSync(cacheFile);
  const at = payloadAt(good);
  const older = Buffer.from(good);
  older.writeUInt32LE(STAT_CACHE_VERSION - 1, at);
  writeFileSync(cacheFile, older);
  const r = read(store);
  assert.is(r.hashed, FILES);
  assert.equal(r.digests, truth);
});

t.test('the checksum is what rejects a damaged digest: the same damage with the checksum recomputed is trusted', async () => {
  // So the damage tests above can fail: without the checksum they would be wrong hits.
  const { store, truth, cacheFile } = await primed();
  const good = readFileSync(cacheFile);
  const body = payloadAt(good) + 32;
  const forged = Buffer.from(good);
  forged[body + FILES * 37] = forged[body + FILES * 37]! ^ 0xff; // first row's digest
  const h = xxh64(forged.subarray(body));
  forged.write(h, body - 16, 16, 'latin1');
  assert.is(StatCache.decode(forged.subarray(payloadAt(forged))).size, FILES, 'a consistent file decodes');
  writeFileSync(cacheFile, forged);
  const r = read(store);
  assert.is(r.hashed, 0);
  assert.not.equal(r.digests, truth, 'a consistent file is trusted as it is');
});

t.test('the JSON stat cache of earlier versions is not read', async () => {
  rig.write({ 'ctx/a.txt': 'alpha\n' });
  await sleep(80);
  const store = createStore(rig.path('store'));
  const ctx = new ContextReader(rig.path('ctx'), createMatcher([], undefined), store);
  const real = ctx.entry('a.txt')!;
  // What the v2 JSON document said about a.txt, with its real stat and a wrong digest.
  const { lstatSync, realpathSync } = await import('node:fs');
  const st = lstatSync(rig.path('ctx/a.txt'), { bigint: true });
  store.writeDoc('contexts', realpathSync(rig.path('ctx')), { v: 2, rows: { 'a.txt': [String(st.ino), Number(st.size), String(st.mtimeNs), String(st.ctimeNs), Number(st.mode & 0o7777n), 'f'.repeat(64), 0] } });
  const again = new ContextReader(rig.path('ctx'), createMatcher([], undefined), store);
  assert.is(again.entry('a.txt')!.digest, real.digest);
  assert.is(again.hashed, 1);
});

t.test('renames, deletions and a file replaced by a directory are seen; gone rows are dropped', async () => {
  const { store, truth, cacheFile } = await primed();
  renameSync(rig.path('ctx/src/d0/f0.txt'), rig.path('ctx/src/d0/renamed.txt'));
  rmSync(rig.path('ctx/src/d1/f1.txt'));
  rmSync(rig.path('ctx/src/d2/f2.txt'));
  mkdirSync(rig.path('ctx/src/d2/f2.txt'));
  writeFileSync(rig.path('ctx/src/d2/f2.txt/inner.txt'), 'inner\n');
  await sleep(80); // a rename moves the ctime: past the racy window, so the new rows are trusted
  const r = read(store);
  assert.is(r.hashed, 2, 'the renamed file (a new path) and the new inner file are read');
  assert.is(r.digests.get('src/d0/renamed.txt'), truth.get('src/d0/f0.txt'));
  assert.not.ok(r.digests.has('src/d0/f0.txt'));
  assert.not.ok(r.digests.has('src/d1/f1.txt'));
  assert.not.ok(r.digests.has('src/d2/f2.txt'));
  assert.ok(r.digests.has('src/d2/f2.txt/inner.txt'));
  const decoded = StatCache.decode((() => {
    const b = readFileSync(cacheFile);
    return b.subarray(payloadAt(b));
  })());
  assert.is(decoded.size, FILES - 1, 'three rows gone, two added: the deleted paths were dropped');
  assert.is(read(store).hashed, 0);
});

t.test('selections in another order than saved still hit, and the cache is saved in the new order', async () => {
  const { store, truth, cacheFile } = await primed();
  const before = readFileSync(cacheFile);
  const r = read(store, ['src/d3', 'src/d1', 'src/d0', 'src/d2']);
  assert.is(r.hashed, 0);
  for (const [k, v] of r.digests) assert.is(v, truth.get(k));
  assert.not.ok(readFileSync(cacheFile).equals(before), 'rewritten in the order of this walk');
  const again = read(store, ['src/d3', 'src/d1', 'src/d0', 'src/d2']);
  assert.is(again.hashed, 0);
  const unchanged = readFileSync(cacheFile);
  read(store, ['src/d3', 'src/d1', 'src/d0', 'src/d2']);
  assert.ok(readFileSync(cacheFile).equals(unchanged), 'a no-change build in the saved order writes nothing');
});

t.test('prune keeps the binary stat cache while its context exists and removes it after', async () => {
  const { store, cacheFile } = await primed();
  const { existsSync } = await import('node:fs');
  store.prune({ roots: new Set(), graceMs: 0 });
  assert.ok(existsSync(cacheFile), 'the context is there: kept');
  rmSync(rig.path('ctx'), { recursive: true });
  const report = store.prune({ roots: new Set(), graceMs: 0 });
  assert.not.ok(existsSync(cacheFile), 'the context is gone: removed');
  assert.is(report.removedDocs, 1);
});

// --- through the CLI -------------------------------------------------------------------------

const DOCKERFILE = "FROM scratch\nWORKDIR /app\nCOPY src/ ./src/\nRUN find src -name '*.txt' -type f | LC_ALL=C sort | xargs cat > all.txt\n";

function project(): void {
  rig.write({ 'ctx/Dockerfile': DOCKERFILE, 'ctx/src/a.txt': 'A\n', 'ctx/src/b.txt': 'B\n', 'ctx/src/c.log': 'log\n', 'ctx/.dockerignore': '' });
}

function build(): Promise<CliResult> {
  return runCli(['build', '--progress=json', '--cache-dir', rig.path('store'), '-o', `type=local,dest=${rig.path('out')}`, rig.path('ctx')]);
}

const pattern = (r: CliResult) =>
  r.events
    .filter((e) => e.type === 'step-start' && e.cached !== undefined)
    .map((e) => (e.type === 'step-start' && e.cached ? 'H' : 'M'))
    .join('');

function cacheFileOf(): string {
  const dir = rig.path('store', readdirSync(rig.path('store')).find((d) => d.startsWith('docs-'))!, 'contexts');
  return join(dir, readdirSync(dir).find((f) => f.endsWith('.bin'))!);
}

t.test('CLI: a stat cache whose digests were damaged on disk still gives a full hit (no wrong digest reaches a key)', async () => {
  project();
  await sleep(80);
  assert.is((await build()).code, 0);
  assert.is(pattern(await build()), 'HHH');
  const f = cacheFileOf();
  const buf = readFileSync(f);
  const body = payloadAt(buf) + 32;
  const n = buf.readUInt32LE(payloadAt(buf) + 8);
  assert.is(n, 3);
  for (let i = body + n * 37; i < body + n * 69; i++) buf[i] = buf[i]! ^ 0xff; // every digest
  writeFileSync(f, buf);
  const r = await build();
  assert.is(r.code, 0, r.stderr);
  assert.is(pattern(r), 'HHH', 'the files were hashed again, to the same digests');
});

t.test('CLI: a warm build sees a rename, a deletion, a file replaced by a directory, a .dockerignore edit and a Dockerfile edit', async () => {
  project();
  await sleep(80);
  assert.is((await build()).code, 0);
  assert.is(pattern(await build()), 'HHH');
  renameSync(rig.path('ctx/src/a.txt'), rig.path('ctx/src/a2.txt'));
  let r = await build();
  assert.is(pattern(r), 'HMM', 'rename');
  assert.is(rig.read('out/app/all.txt'), 'A\nB\n');
  rmSync(rig.path('ctx/src/b.txt'));
  r = await build();
  assert.is(pattern(r), 'HMM', 'deletion');
  assert.is(rig.read('out/app/all.txt'), 'A\n');
  rmSync(rig.path('ctx/src/a2.txt'));
  mkdirSync(rig.path('ctx/src/a2.txt'));
  writeFileSync(rig.path('ctx/src/a2.txt/inner.txt'), 'I\n');
  r = await build();
  assert.is(r.code, 0, r.stderr);
  assert.is(pattern(r), 'HMM', 'file replaced by a directory');
  assert.is(rig.read('out/app/all.txt'), 'I\n');
  assert.ok(rig.exists('out/app/src/c.log'));
  writeFileSync(rig.path('ctx/.dockerignore'), 'src/*.log\n');
  r = await build();
  assert.is(pattern(r), 'HMM', '.dockerignore edit drops src/c.log');
  assert.not.ok(rig.exists('out/app/src/c.log'));
  writeFileSync(rig.path('ctx/Dockerfile'), DOCKERFILE.replace('all.txt', 'every.txt'));
  r = await build();
  assert.is(pattern(r), 'HHM', 'Dockerfile edit');
  assert.is(rig.read('out/app/every.txt'), 'I\n');
  assert.is(pattern(await build()), 'HHH');
});

t.run();
