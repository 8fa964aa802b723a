/**
 * The image and store commands through the real CLI: images, history, inspect, rmi, du,
 * prune (LRU --keep-storage, --until, image layers kept) and cache verify.
 */
import * as assert from 'uvu/assert';
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite, Rig } from './util/rig.js';
import { runCli, type CliResult } from './util/cli.js';

const t = suite('image commands', { timeoutMs: 60_000 });
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig('stratum-images-');
});
t.afterEach(() => rig.cleanup());

const cli = (...args: string[]) => runCli([args[0]!, '--cache-dir', rig.path('store'), ...args.slice(1)]);
async function ok(p: Promise<CliResult>): Promise<CliResult> {
  const r = await p;
  assert.is(r.code, 0, `${r.stdout}\n${r.stderr}`);
  return r;
}
const jsonLines = <T>(r: CliResult) => r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);

const APP = `FROM scratch
LABEL org.opencontainers.image.title=app
WORKDIR /app
COPY payload.bin ./
ENV MODE=prod
RUN printf 'abc' > three.txt
CMD ["sh", "run.sh"]
`;

function project(name: string, size = 2_000, dockerfile = APP): string {
  rig.write({ [`${name}/Dockerfile`]: dockerfile, [`${name}/payload.bin`]: Buffer.alloc(size, name.charCodeAt(0)) });
  return rig.path(name);
}

interface HistoryRow {
  ID: string | null;
  CreatedBy: string;
  Size: number;
  EmptyLayer: boolean;
}

t.test('history shows empty layers for LABEL, ENV and CMD and byte sizes for filesystem layers, newest first', async () => {
  await ok(cli('build', '-t', 'app:1', project('app', 2_000)));
  const rows = jsonLines<HistoryRow>(await ok(cli('history', 'app:1', '--format', 'json')));
  assert.equal(
    rows.map((r) => [r.CreatedBy.split(' ')[0], r.EmptyLayer, r.Size]),
    [
      ['CMD', true, 0],
      ['RUN', false, 3],
      ['ENV', true, 0],
      ['COPY', false, 2_000],
      ['WORKDIR', false, 0],
      ['LABEL', true, 0],
    ],
  );
  assert.ok(rows.filter((r) => !r.EmptyLayer).every((r) => /^[0-9a-f]{64}$/.test(r.ID!)));
  assert.ok(rows.filter((r) => r.EmptyLayer).every((r) => r.ID === null));

  const text = (await ok(cli('history', 'app:1'))).stdout.split('\n');
  assert.match(text[0]!, /^LAYER\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
  assert.match(text[1]!, /^<empty>\s+.*ago\s+CMD \["sh", "run.sh"\]\s+0 B$/);
  assert.match(text[4]!, /^[0-9a-f]{12}\s+.*COPY payload.bin \.\/\s+2\.0 kB$/);
  const full = (await ok(cli('history', 'app:1', '--no-trunc'))).stdout;
  assert.ok(full.includes(rows[1]!.ID!), 'full layer digests with --no-trunc');
  assert.ok(full.includes("RUN /bin/sh -c printf 'abc' > three.txt # buildkit"));
  assert.ok(!(await ok(cli('history', 'app:1'))).stdout.includes("three.txt # buildkit"), 'CREATED BY is truncated by default');

  const missing = await cli('history', 'nope:1');
  assert.is(missing.code, 2);
  assert.match(missing.stderr, /no image "nope:1" in the store/);
  assert.match(missing.stderr, /stratum images/);
});

t.test('images lists tagged images newest first with id and size; inspect prints their config', async () => {
  assert.is((await ok(cli('images'))).stdout, 'REPOSITORY   TAG   IMAGE ID   CREATED   SIZE\n');
  await ok(cli('build', '-t', 'app:1', '-t', 'app', project('app', 2_000)));
  await ok(cli('build', '-t', 'registry.example:5000/team/other:2.0', project('other', 5_000)));
  const list = jsonLines<{ Repository: string; Tag: string; ID: string; Size: number; Layers: number }>(await ok(cli('images', '--format', 'json')));
  assert.equal(list.map((i) => `${i.Repository}:${i.Tag}`).sort(), ['app:1', 'app:latest', 'registry.example:5000/team/other:2.0']);
  assert.is(list.find((i) => i.Repository === 'registry.example:5000/team/other')!.Size, 5_003);
  assert.is(list.find((i) => i.Tag === '1')!.Layers, 3);
  const table = (await ok(cli('images'))).stdout.split('\n');
  assert.match(table[0]!, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
  assert.ok(table.some((l) => /^registry\.example:5000\/team\/other\s+2\.0\s+[0-9a-f]{12}\s+.*ago\s+5\.0 kB$/.test(l)), table.join('\n'));

  const inspect = JSON.parse((await ok(cli('inspect', 'app:1', 'app'))).stdout) as { Name: string; Id: string; Config: Record<string, unknown>; RootFS: { Layers: string[] } }[];
  assert.equal(inspect.map((i) => i.Name), ['app:1', 'app:latest']);
  assert.is(inspect[0]!.Id, inspect[1]!.Id);
  assert.equal(inspect[0]!.Config, { Labels: { 'org.opencontainers.image.title': 'app' }, Cmd: ['sh', 'run.sh'], Env: ['MODE=prod'], WorkingDir: '/app' });
  assert.is(inspect[0]!.RootFS.Layers.length, 3);
  const bad = await cli('inspect', 'Not/Valid');
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /invalid image name/);
});

t.test('rmi untags, reports each missing image, keeps going, and leaves the layers cached', async () => {
  const ctx = project('app');
  await ok(cli('build', '-t', 'app:1', '-t', 'app:2', ctx));
  const r = await cli('rmi', 'app:1', 'ghost:9', 'app:2');
  assert.is(r.code, 2);
  assert.is(r.stdout, 'Untagged: app:1\nUntagged: app:2\n');
  assert.match(r.stderr, /no image "ghost:9"/);
  assert.is((await ok(cli('images', '--format', 'json'))).stdout, '');
  // The cache survives: a rebuild hits every step.
  const again = await ok(runCli(['build', '--progress=json', '--cache-dir', rig.path('store'), ctx]));
  assert.ok(again.events.some((e) => e.type === 'build-done' && e.misses === 0 && e.hits === 3));
});

t.test('du counts layers, blobs, keys and images, and what prune could reclaim', async () => {
  await ok(cli('build', '-t', 'app:1', project('app', 10_000)));
  await ok(cli('build', project('cache-only', 20_000)));
  const u = JSON.parse((await ok(cli('du', '--format', 'json'))).stdout) as {
    images: { count: number; bytes: number };
    layers: { count: number; activeCount: number };
    blobs: { count: number; bytes: number; activeBytes: number };
    keys: { count: number; bytes: number };
    total: number;
    reclaimable: number;
  };
  assert.is(u.images.count, 1);
  // The projects share the WORKDIR and RUN layers (same content) and the WORKDIR key.
  assert.is(u.layers.activeCount, 3);
  assert.is(u.layers.count, 4);
  assert.is(u.keys.count, 5);
  assert.ok(u.blobs.activeBytes >= 10_003 && u.blobs.activeBytes < 11_000, `active blob bytes ${u.blobs.activeBytes}`);
  assert.ok(u.blobs.bytes >= 30_006);
  assert.is(u.reclaimable, u.total - u.images.bytes);
  assert.ok(u.reclaimable >= 20_000);
  const text = (await ok(cli('du'))).stdout;
  for (const row of [/^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/m, /^Images\s+1\s+1\s/m, /^Layers\s+\d+\s+3\s/m, /^Blobs\s/m, /^Build keys\s+5\s+0\s/m, /^Total\s+\S+ \w?B\s+\S+ \w?B \(\d+%\)$/m]) assert.match(text, row);
});

/** Hits and misses of a build, as "HMM…" in step order. */
async function pattern(ctx: string): Promise<string> {
  const r = await ok(runCli(['build', '--progress=json', '--cache-dir', rig.path('store'), ctx]));
  return r.events.filter((e) => e.type === 'step-start' && e.cached !== undefined).map((e) => (e.type === 'step-start' && e.cached ? 'H' : 'M')).join('');
}

t.test('prune --keep-storage evicts the least recently used cache first and keeps the most recently used', async () => {
  const a = project('a', 100_000);
  const b = project('b', 100_000);
  const c = project('c', 100_000);
  await pattern(a);
  await pattern(b);
  await pattern(c);
  assert.is(await pattern(a), 'HHH'); // a is now the most recently used, b the least
  const r = await ok(cli('prune', '--keep-storage', '150kB', '--grace', '0s', '--format', 'json'));
  const report = JSON.parse(r.stdout) as { removedKeys: number; sizeAfter: number; sizeBefore: number };
  assert.ok(report.sizeAfter <= 150_000, `${report.sizeAfter}`);
  assert.ok(report.sizeBefore > 300_000);
  // b's keys were the oldest, then c's; a's (and the WORKDIR key all three share) stay.
  assert.ok(report.removedKeys >= 3, `${report.removedKeys}`);
  assert.is(await pattern(a), 'HHH');
  assert.is(await pattern(b), 'HMM');
});

t.test('prune never removes a tagged image\'s layers, keeps what recent cache reaches within --grace, and --until drops old keys', async () => {
  const ctx = project('app', 50_000);
  await ok(cli('build', '-t', 'keep:1', ctx));
  await ok(cli('build', project('other', 50_000)));
  const noop = JSON.parse((await ok(cli('prune', '--until', '1h', '--grace', '0s', '--format', 'json'))).stdout) as { removedKeys: number };
  assert.is(noop.removedKeys, 0);
  // Within the grace period (default 1m) a running build may stand on the cache: keys may go,
  // but no layer or blob they reach.
  const graced = JSON.parse((await ok(cli('prune', '--keep-storage', '0', '--format', 'json'))).stdout) as { removedKeys: number; removedLayers: number; removedBlobs: number };
  assert.is(graced.removedLayers, 0);
  assert.is(graced.removedBlobs, 0);
  const all = await ok(cli('prune', '--until', '0s', '--grace', '0s'));
  // The other project's layer and payload, and the two COPY file lists (miss explanations)
  // whose keys the previous prune evicted: they outlive their key only by the grace.
  assert.match(all.stdout, /^Deleted \d+ build keys, 1 layers, 3 blobs\nTotal reclaimed space: \d+(\.\d)? kB/);
  // The image is intact: its layers and blobs are all there.
  rig.write({ 'use/Dockerfile': 'FROM keep:1\n' });
  await ok(cli('build', '-o', `type=local,dest=${rig.path('out')}`, rig.path('use')));
  assert.is(readFileSync(rig.path('out', 'app', 'payload.bin')).length, 50_000);
  assert.is(readFileSync(rig.path('out', 'app', 'three.txt'), 'utf8'), 'abc');
  for (const [flag, value, msg] of [
    ['--keep-storage', 'lots', /--keep-storage takes a size/],
    ['--until', 'yesterday', /--until takes a duration/],
  ] as const) {
    const bad = await cli('prune', flag, value);
    assert.is(bad.code, 2);
    assert.match(bad.stderr, msg);
  }
});

t.test('cache verify finds and removes a corrupt blob; the next build rebuilds it', async () => {
  const ctx = project('app', 3_000);
  await ok(cli('build', '-t', 'app:1', ctx));
  const clean = JSON.parse((await ok(cli('cache', 'verify', '--format', 'json'))).stdout) as { badBlobs: number; checkedBlobs: number };
  assert.is(clean.badBlobs, 0);
  assert.ok(clean.checkedBlobs >= 2);
  const blobs = rig.path('store', 'blobs-v2');
  const payload = Buffer.alloc(3_000, 'a'.charCodeAt(0));
  for (const fan of readdirSync(blobs)) {
    for (const name of readdirSync(join(blobs, fan))) {
      const p = join(blobs, fan, name);
      if (readFileSync(p).equals(payload)) {
        chmodSync(p, 0o644);
        writeFileSync(p, Buffer.alloc(3_000, 'b'.charCodeAt(0)));
      }
    }
  }
  // It removed something: exit 1 (issue 12 item 7), the report on stdout all the same.
  const found = await cli('cache', 'verify');
  assert.is(found.code, 1, found.stderr);
  const text = found.stdout;
  assert.match(text, /removed 1 bad blobs, 1 bad layers, 1 bad keys: the next build rebuilds them/);
  assert.match(text, /check blobs\s+\d+ ms/);
  // COPY rebuilds the blob; the RUN after it hits again (same chain below it).
  assert.is(await pattern(ctx), 'HMH');
  assert.is((await cli('cache', 'verify')).code, 0, 'a sound store exits 0');
  const unknown = await cli('cache', 'frobnicate');
  assert.is(unknown.code, 2);
  assert.match(unknown.stderr, /unknown subcommand "frobnicate"/);
});

t.run();
