/**
 * `stratum bench` end to end, through the real CLI: the five scenarios and their fields, and
 * the promise that the user's context and store are left exactly as they were. No timed
 * assertions: how fast is for bench/, never for tests.
 */
import * as assert from 'uvu/assert';
import { lstatSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite, Rig } from './util/rig.js';
import { runCli } from './util/cli.js';

const DOCKERFILE = `FROM scratch
WORKDIR /app
COPY deps.txt ./
RUN cp deps.txt installed.txt
COPY src/ ./src/
RUN cat src/*.txt > bundle.txt
`;

interface Scenario {
  name: string;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  speedup: number;
  cachedSteps: number;
  totalSteps: number;
  peakRssMiB?: number | null;
}

/** Every path beneath `root` with its type, mode, size, mtime and ctime in ns, and content. */
function snapshotTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (rel: string) => {
    const abs = rel === '' ? root : join(root, rel);
    const st = lstatSync(abs, { bigint: true });
    const kind = st.isDirectory() ? 'd' : st.isFile() ? 'f' : 'o';
    const content = st.isFile() ? readFileSync(abs).toString('base64') : '';
    out.set(rel, `${kind} ${st.mode} ${st.size} ${st.mtimeNs} ${st.ctimeNs} ${content}`);
    if (st.isDirectory()) for (const name of readdirSync(abs).sort()) visit(rel === '' ? name : `${rel}/${name}`);
  };
  visit('');
  return out;
}

function project(rig: Rig): void {
  rig.write({
    'ctx/Dockerfile': DOCKERFILE,
    'ctx/deps.txt': 'alpha\nbeta\n',
    'ctx/src/a.txt': 'A\n',
    'ctx/src/b.txt': 'B\n',
    'ctx/notes.log': 'ignored\n',
    'ctx/.dockerignore': '*.log\n',
    'user-store/marker': 'the user store\n',
  });
  mkdirSync(rig.path('tmp'));
  mkdirSync(rig.path('home'));
}

/** Run bench with the user's store, HOME and TMPDIR inside the rig. */
function bench(rig: Rig, ...args: string[]) {
  return runCli(['bench', ...args], {
    env: { STRATUM_CACHE_DIR: rig.path('user-store'), XDG_CACHE_HOME: rig.path('home/.cache'), HOME: rig.path('home'), TMPDIR: rig.path('tmp') },
  });
}

const t = suite('stratum bench', { timeoutMs: 120_000 });
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig();
  project(rig);
});
t.afterEach(() => rig.cleanup());

t.test('--runs 1 --json gives the five scenarios with sane fields', async () => {
  const r = await bench(rig, '--runs', '1', '--json', rig.path('ctx'));
  assert.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { scenarios: Scenario[] };
  assert.equal(
    out.scenarios.map((s) => s.name),
    ['cold', 'warm', 'touch', 'incremental', 'top'],
  );
  for (const s of out.scenarios) {
    for (const f of ['name', 'runs', 'medianMs', 'minMs', 'maxMs', 'speedup', 'cachedSteps', 'totalSteps']) assert.ok(f in s, `${s.name}: missing ${f}`);
    assert.is(s.runs, 1, s.name);
    assert.is(s.totalSteps, 5, `${s.name}: WORKDIR, two COPYs and two RUNs have keys`);
    assert.ok(s.medianMs > 0 && s.minMs <= s.medianMs && s.medianMs <= s.maxMs, `${s.name}: min ≤ median ≤ max`);
    assert.ok(s.speedup > 0, `${s.name}: speedup`);
    if (s.peakRssMiB !== undefined && s.peakRssMiB !== null) assert.ok(s.peakRssMiB > 1, `${s.name}: peak RSS in MiB`);
  }
  const by = Object.fromEntries(out.scenarios.map((s) => [s.name, s]));
  assert.is(by.cold!.speedup, 1);
  assert.is(by.cold!.cachedSteps, 0);
  assert.is(by.warm!.cachedSteps, by.warm!.totalSteps);
  assert.is(by.touch!.cachedSteps, by.touch!.totalSteps, 'touching files changes no key');
  assert.ok(by.incremental!.cachedSteps < by.incremental!.totalSteps);
  assert.ok(by.top!.cachedSteps < by.top!.totalSteps);
  assert.ok(by.top!.cachedSteps < by.incremental!.cachedSteps, 'top rebuilds more than incremental');
  assert.is(by.incremental!.cachedSteps, 3, 'WORKDIR, COPY deps.txt and its RUN hit');
});

t.test('leaves the context byte for byte and mtime for mtime, the store untouched, no temp files', async () => {
  const ctxBefore = snapshotTree(rig.path('ctx'));
  const storeBefore = snapshotTree(rig.path('user-store'));
  const r = await bench(rig, '--runs', '1', '--warmup', '0', rig.path('ctx'));
  assert.is(r.code, 0, r.stderr);
  assert.equal(snapshotTree(rig.path('ctx')), ctxBefore);
  assert.equal(snapshotTree(rig.path('user-store')), storeBefore);
  assert.equal(readdirSync(rig.path('home')), [], 'nothing written under HOME (no default store)');
  assert.equal(readdirSync(rig.path('tmp')), [], 'the temporary copy and stores are removed');
  // The table: a header and one row per scenario, progress on stderr.
  for (const name of ['scenario', 'cold', 'warm', 'touch', 'incremental', 'top']) assert.match(r.stdout, new RegExp(`^${name}\\b`, 'm'));
  assert.match(r.stdout, /node -e 0/);
  assert.match(r.stderr, /incremental changes src\/a\.txt, top changes deps\.txt/);
  assert.match(r.stderr, /top run 1\/1/);
});

t.test('a Dockerfile outside the context is found with -f', async () => {
  rig.write({ 'elsewhere/Build.dockerfile': DOCKERFILE });
  const r = await bench(rig, '--runs', '1', '--warmup', '0', '--json', '-f', rig.path('elsewhere/Build.dockerfile'), rig.path('ctx'));
  assert.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { scenarios: Scenario[] };
  assert.is(out.scenarios.length, 5);
  assert.equal(readdirSync(rig.path('tmp')), []);
});

t.test('a context without a COPY from it skips incremental and top', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nRUN echo hi > hi.txt\n' });
  const r = await bench(rig, '--runs', '1', '--warmup', '0', '--json', rig.path('ctx'));
  assert.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { scenarios: Scenario[] };
  assert.equal(
    out.scenarios.map((s) => s.name),
    ['cold', 'warm', 'touch'],
  );
  assert.match(r.stderr, /skipping incremental and top/);
});

t.test('a failing build stops the benchmark with exit 1, the error, and no leftovers', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nCOPY deps.txt ./\nRUN exit 7\n' });
  const ctxBefore = snapshotTree(rig.path('ctx'));
  const r = await bench(rig, '--runs', '1', rig.path('ctx'));
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /error: bench: the first build failed/);
  assert.match(r.stderr, /exit 7|code 7/);
  assert.equal(snapshotTree(rig.path('ctx')), ctxBefore);
  assert.equal(readdirSync(rig.path('tmp')), []);
});

t.test('usage errors exit 2 with a hint', async () => {
  const cases: [string[], RegExp][] = [
    [['--runs', '0', rig.path('ctx')], /--runs takes a whole number/],
    [['--runs', 'many', rig.path('ctx')], /--runs takes a whole number/],
    [['--cache-dir', rig.path('user-store'), rig.path('ctx')], /--cache-dir is not used by bench[\s\S]*hint: .*temporary store/],
    [[rig.path('nope')], /context directory .* does not exist/],
    [['--bogus', rig.path('ctx')], /bench: Unknown option '--bogus'/],
    [['-f', rig.path('nope/Dockerfile'), rig.path('ctx')], /no Dockerfile at/],
  ];
  for (const [args, message] of cases) {
    const r = await bench(rig, ...args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  assert.equal(readdirSync(rig.path('tmp')), [], 'a usage error leaves no temporary directory');
});

t.test('--help prints the scenarios and exits 0', async () => {
  const r = await bench(rig, '--help');
  assert.is(r.code, 0);
  for (const word of ['cold', 'warm', 'touch', 'incremental', 'top', '--runs', '--json']) assert.match(r.stdout, word);
});

t.run();
