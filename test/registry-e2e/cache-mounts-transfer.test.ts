/**
 * `--cache-to …,cache-mounts=true` through the real CLI: machine A's RUN fills a cache mount
 * (a download cache, simulated by a file it writes when the file is not there), A exports the
 * step cache with its cache mounts; machine B (a fresh store) changes a file so that the RUN
 * runs again, and that RUN finds A's download. Through a loopback registry and an OCI layout
 * directory. A machine whose own cache mount already holds something keeps it, and a cache
 * exported without cache-mounts=true brings none. RUNs append to a log outside the build,
 * hence --executor=host.
 */
import * as assert from 'uvu/assert';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { suite, Rig } from '../util/rig.js';
import { runCli, startCli, stepsDone, type CliResult } from '../util/cli.js';
import { startRegistry, type RunningRegistry } from '../registry/kit.js';

const t = suite('registry e2e: cache mounts travel with the cache', { timeoutMs: 180_000 });
let reg: RunningRegistry;
let rig: Rig;

const DOCKERFILE = `FROM scratch
ARG M
ARG WHO=A
COPY a.txt /a.txt
RUN --mount=type=cache,target=/dl ["/bin/sh", "-c", "echo run >> $M/runs.log; if [ -f dl/pkg ]; then echo hit > fetched.txt; else echo $WHO > dl/pkg; mkdir -p dl/sub; echo deep > dl/sub/f; echo miss > fetched.txt; fi; cat dl/pkg > pkg.txt; cat dl/sub/f > deep.txt"]
`;

t.before(async () => {
  reg = await startRegistry();
  rig = new Rig('stratum-cache-mounts-');
  rig.write({ 'ctxA/Dockerfile': DOCKERFILE, 'ctxA/a.txt': 'one\n', 'm/.keep': '' });
  const a = await build('ctxA', 'storeA', [
    '--cache-to', `type=registry,ref=${reg.host}/cache/mounts:1,mode=max,cache-mounts=true`,
    '--cache-to', `type=local,dest=${rig.path('cache')},mode=max,cache-mounts=true`,
    '--cache-to', `type=local,dest=${rig.path('cache-plain')},mode=max`,
    '-o', `type=local,dest=${rig.path('outA')}`,
  ]);
  assert.is(a.code, 0, a.stderr);
  assert.is(rig.read('outA/fetched.txt'), 'miss\n');
  assert.ok(a.events.some((e) => e.type === 'warning' && e.message.includes('1 cache mounts')), JSON.stringify(a.events.filter((e) => e.type === 'warning')));
});
t.after(async () => {
  await reg?.stop();
  rig?.cleanup();
});

const runs = () => (existsSync(rig.path('m/runs.log')) ? readFileSync(rig.path('m/runs.log'), 'utf8').trim().split('\n') : []);
const build = (ctx: string, store: string, extra: string[]): Promise<CliResult> =>
  runCli(['build', '--progress=json', '--executor=host', '--build-arg', `M=${rig.path('m')}`, '--cache-dir', rig.path(store), ...extra, rig.path(ctx)]);

/** A fresh copy of A's context with a.txt changed: the COPY misses, so the RUN runs again. */
function changedCopy(name: string): void {
  cpSync(rig.path('ctxA'), rig.path(name), { recursive: true });
  rig.write({ [`${name}/a.txt`]: `${name}\n` });
}

for (const [kind, from] of [
  ['a registry', () => `type=registry,ref=${reg.host}/cache/mounts:1`],
  ['an OCI layout directory', () => `type=local,src=${rig.path('cache')}`],
] as const) {
  t.test(`machine B's rerun RUN sees machine A's cache-mount contents, through ${kind}`, async () => {
    const name = kind === 'a registry' ? 'ctxB' : 'ctxL';
    changedCopy(name);
    const n = runs().length;
    const b = await build(name, `store-${name}`, ['--cache-from', from(), '-o', `type=local,dest=${rig.path(`out-${name}`)}`]);
    assert.is(b.code, 0, b.stderr);
    assert.equal(runs().slice(n), ['run']);
    const run = stepsDone(b).find((s) => s.instruction.startsWith('RUN'))!;
    assert.is(run.cached, false);
    assert.is(rig.read(`out-${name}/fetched.txt`), 'hit\n');
    assert.is(rig.read(`out-${name}/pkg.txt`), 'A\n');
    assert.is(rig.read(`out-${name}/deep.txt`), 'deep\n');
  });
}

t.test('a cache exported without cache-mounts=true brings no cache mount', async () => {
  changedCopy('ctxP');
  const b = await build('ctxP', 'store-plain', ['--cache-from', `type=local,src=${rig.path('cache-plain')}`, '-o', `type=local,dest=${rig.path('out-plain')}`]);
  assert.is(b.code, 0, b.stderr);
  assert.is(rig.read('out-plain/fetched.txt'), 'miss\n');
});

t.test('a machine whose cache mount already holds something keeps its own contents', async () => {
  changedCopy('ctxC');
  // C's own build fills its cache mount first (WHO=C), then a change makes the RUN run again.
  const own = await build('ctxC', 'store-C', ['--build-arg', 'WHO=C']);
  assert.is(own.code, 0, own.stderr);
  rig.write({ 'ctxC/a.txt': 'changed again\n' });
  const c = await build('ctxC', 'store-C', ['--cache-from', `type=local,src=${rig.path('cache')}`, '-o', `type=local,dest=${rig.path('out-C')}`]);
  assert.is(c.code, 0, c.stderr);
  assert.is(rig.read('out-C/fetched.txt'), 'hit\n');
  assert.is(rig.read('out-C/pkg.txt'), 'C\n');
});

// Two RUNs at once on a sharing=private mount take slots 0 and 1; each waits for its go file.
const PRIVATE = `FROM scratch
ARG M
ARG WHO
COPY a.txt /a.txt
RUN --mount=type=cache,target=/dl,sharing=private ["/bin/sh", "-c", "[ -f dl/who ] || echo $WHO > dl/who; touch $M/in-$WHO; while [ ! -f $M/go-$WHO ]; do sleep 0.05; done; cat dl/who > who.txt"]
`;

async function until(path: string): Promise<void> {
  while (!existsSync(rig.path(path))) await new Promise((r) => setTimeout(r, 50));
}

t.test('every slot of a private cache mount is exported, most recently used first, and B starts from the freshest', async () => {
  rig.write({ 'pA1/Dockerfile': PRIVATE, 'pA1/a.txt': 'one\n', 'pA2/Dockerfile': PRIVATE, 'pA2/a.txt': 'two\n' });
  const cli = (ctx: string, who: string, extra: string[] = []) =>
    startCli(['build', '--progress=json', '--executor=host', '--build-arg', `M=${rig.path('m')}`, '--build-arg', `WHO=${who}`, '--cache-dir', rig.path('store-private'), ...extra, rig.path(ctx)]);
  // "one" holds slot 0 while "two" takes slot 1; "one" ends first, so slot 1 is the freshest.
  const one = cli('pA1', 'one');
  await until('m/in-one');
  const two = cli('pA2', 'two', ['--cache-to', `type=local,dest=${rig.path('cache-private')},mode=max,cache-mounts=true`]);
  await until('m/in-two');
  rig.write({ 'm/go-one': '' });
  const r1 = await one.done;
  assert.is(r1.code, 0, r1.stderr);
  rig.write({ 'm/go-two': '' });
  const r2 = await two.done;
  assert.is(r2.code, 0, r2.stderr);
  assert.ok(r2.events.some((e) => e.type === 'warning' && e.message.includes('2 cache mounts')), JSON.stringify(r2.events.filter((e) => e.type === 'warning')));

  const blob = (d: string) => JSON.parse(rig.read(`cache-private/blobs/sha256/${d.slice(7)}`)) as Record<string, unknown>;
  const index = JSON.parse(rig.read('cache-private/index.json')) as { manifests: { digest: string }[] };
  const config = blob((blob(index.manifests[0]!.digest) as { config: { digest: string } }).config.digest) as { mounts: { id: string; slot: number }[] };
  assert.equal(config.mounts.map((m) => [m.id, m.slot]), [['/dl', 1], ['/dl', 0]]);

  // B: a changed file, so the RUN runs; its slot 0 starts as A's most recently used slot.
  cpSync(rig.path('pA2'), rig.path('pB'), { recursive: true });
  rig.write({ 'pB/a.txt': 'b\n', 'm/go-b': '' });
  const b = await runCli(['build', '--progress=json', '--executor=host', '--build-arg', `M=${rig.path('m')}`, '--build-arg', 'WHO=b', '--cache-dir', rig.path('store-private-B'), '--cache-from', `type=local,src=${rig.path('cache-private')}`, '-o', `type=local,dest=${rig.path('out-private')}`, rig.path('pB')]);
  assert.is(b.code, 0, b.stderr);
  assert.is(rig.read('out-private/who.txt'), 'two\n');
});

t.test('cache-mounts= takes true or false, and only on --cache-to', async () => {
  const bad = await runCli(['build', '--cache-to', `type=local,dest=${rig.path('x')},cache-mounts=yes`, rig.path('ctxA')]);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, 'cache-mounts= takes true or false');
  const from = await runCli(['build', '--cache-from', `type=local,src=${rig.path('cache')},cache-mounts=true`, rig.path('ctxA')]);
  assert.is(from.code, 2);
  assert.match(from.stderr, 'belongs to --cache-to');
});

t.run();
