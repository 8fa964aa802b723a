/**
 * The CLI's bundle and its V8 code cache (cli/bundle-loader.ts, scripts/postbuild.mjs). Each
 * test runs a copy of the built loader and bundle in a temp dir (the real dist/ is shared by
 * the other tests), with the repository's node_modules linked beside it.
 */
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { suite, Rig } from './util/rig.js';

const dist = fileURLToPath(new URL('../', import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));
const t = suite('cli bundle and code cache', { timeoutMs: 60_000 });

/** A copy of the installed CLI: loader, bundle, package.json and node_modules. */
function install(rig: Rig): { main: string; bundle: string; cache: string } {
  mkdirSync(rig.path('dist/cli'), { recursive: true });
  mkdirSync(rig.path('dist/bundle'), { recursive: true });
  for (const f of ['cli/main.js', 'cli/bundle-loader.js', 'bundle/main.cjs']) copyFileSync(dist + f, rig.path('dist', f));
  copyFileSync(root + 'package.json', rig.path('package.json'));
  symlinkSync(root + 'node_modules', rig.path('node_modules'));
  const bundle = rig.path('dist/bundle/main.cjs');
  return { main: rig.path('dist/cli/main.js'), bundle, cache: `${bundle}.v8cache` };
}

function run(main: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const stampOf = (cache: string) => readFileSync(cache, 'latin1').split('\n', 1)[0]!;

t.test('the built CLI is the bundle run by its loader', () => {
  const main = readFileSync(dist + 'cli/main.js', 'utf8');
  assert.ok(main.startsWith('#!/usr/bin/env node\n'), 'bin keeps its hashbang');
  assert.match(main, /runBundle\(/);
  assert.ok(statSync(dist + 'cli/main.js').mode & 0o100, 'bin is executable');
});

t.test('makes a code cache on the first run, then runs from it without rewriting it', () => {
  const rig = new Rig();
  try {
    const { main, bundle, cache } = install(rig);
    const first = run(main, ['--help']);
    assert.is(first.code, 0, first.stderr);
    assert.match(first.stdout, /^stratum — build a Dockerfile/);
    assert.is(first.stderr, '', 'no warning on stderr');
    assert.ok(existsSync(cache), 'the first run wrote the cache');
    const st = statSync(bundle);
    assert.is(stampOf(cache), `stratum-v8-cache-1 ${st.size} ${st.mtimeMs} ${st.ino} ${process.version} ${process.arch} other`);
    const written = statSync(cache).mtimeMs;
    const second = run(main, ['--help']);
    assert.is(second.code, 0, second.stderr);
    assert.is(second.stdout, first.stdout);
    assert.is(statSync(cache).mtimeMs, written, 'an accepted cache is not written again');
  } finally {
    rig.cleanup();
  }
});

t.test('never runs a cache made from another bundle of the same length (V8 checks only the length)', () => {
  const rig = new Rig();
  try {
    const { main, bundle, cache } = install(rig);
    assert.is(run(main, ['--help']).code, 0);
    const before = statSync(bundle);
    const text = readFileSync(bundle, 'utf8');
    const edited = text.replace('build a Dockerfile into cached', 'BUILD A DOCKERFILE INTO CACHED');
    assert.is.not(edited, text);
    assert.is(Buffer.byteLength(edited), Buffer.byteLength(text));
    writeFileSync(bundle, edited);
    // The same file (inode) with a new mtime, as an edit in place leaves it; a second later
    // than before, so the test does not depend on the clock's resolution.
    utimesSync(bundle, before.atime, new Date(before.mtimeMs + 1000));
    const r = run(main, ['--help']);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /^stratum — BUILD A DOCKERFILE INTO CACHED/);
    const after = statSync(bundle);
    assert.ok(stampOf(cache).startsWith(`stratum-v8-cache-1 ${after.size} ${after.mtimeMs} `), 'the cache was made again for the new bundle');
  } finally {
    rig.cleanup();
  }
});

t.test('a damaged cache is not used: the CLI runs and writes a good one', () => {
  const rig = new Rig();
  try {
    const { main, bundle, cache } = install(rig);
    assert.is(run(main, ['--help']).code, 0);
    const stamp = stampOf(cache);
    writeFileSync(cache, Buffer.concat([Buffer.from(`${stamp}\n`, 'latin1'), Buffer.alloc(4096, 0x5a)]));
    const r = run(main, ['--help']);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /^stratum — build a Dockerfile/);
    assert.ok(readFileSync(cache).length > 10_000, 'V8 rejected the bytes and the cache was made again');
    writeFileSync(cache, 'no stamp line at all');
    assert.is(run(main, ['--help']).code, 0);
    assert.is(stampOf(cache), stamp);
    assert.ok(statSync(bundle).size > 0);
  } finally {
    rig.cleanup();
  }
});

t.test('a build replaces a cache made by another command, and runs from its own', () => {
  const rig = new Rig();
  try {
    const { main, cache } = install(rig);
    assert.is(run(main, ['--version']).code, 0);
    assert.ok(stampOf(cache).endsWith(' other'));
    rig.write({ 'ctx/Dockerfile': 'FROM scratch\nCOPY a /\n', 'ctx/a': 'a\n' });
    const build = () => run(main, ['build', '--progress=json', '--cache-dir', rig.path('store'), rig.path('ctx')]);
    const first = build();
    assert.is(first.code, 0, first.stderr);
    assert.ok(stampOf(cache).endsWith(' build'), 'the build wrote its own cache');
    const written = statSync(cache).mtimeMs;
    const second = build();
    assert.is(second.code, 0, second.stderr);
    assert.match(second.stdout, /"type":"build-done"/);
    assert.is(statSync(cache).mtimeMs, written);
    assert.ok(run(main, ['--version']).stdout.startsWith('stratum '));
    assert.is(statSync(cache).mtimeMs, written, 'a build cache is kept for the other commands');
  } finally {
    rig.cleanup();
  }
});

t.test('under --enable-source-maps the bundle runs through node\'s own loader (mapped stack traces), without the cache', () => {
  const rig = new Rig();
  try {
    const { main, bundle, cache } = install(rig);
    const probe = rig.path('probe.cjs');
    writeFileSync(probe, `process.on('exit', () => process.stderr.write(require('node:module').findSourceMap(${JSON.stringify(bundle)}) ? 'mapped' : 'unmapped'));`);
    copyFileSync(dist + 'bundle/main.cjs.map', `${bundle}.map`);
    const r = spawnSync(process.execPath, ['--enable-source-maps', '-r', probe, main, '--help'], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /^stratum — build a Dockerfile/);
    assert.is(r.stderr, 'mapped');
    assert.not.ok(existsSync(cache));
  } finally {
    rig.cleanup();
  }
});

t.run();
