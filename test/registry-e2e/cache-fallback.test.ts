/**
 * A --cache-from hit whose layer turns out bad only when it is needed (a later step, the
 * output): a blob whose bytes do not match its digest, a download that keeps dropping, a blob
 * the registry no longer serves. The build does not fail: it warns (naming the cache, the
 * registry and repository, and the digest), runs the step whose layer failed (its RUN appends
 * to a log outside the build, hence --executor=host), and the output is right. The store keeps
 * nothing of the bad blob, and `stratum cache verify` passes.
 */
import * as assert from 'uvu/assert';
import { cpSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { suite, Rig } from '../util/rig.js';
import { runCli, stepsDone, type CliResult } from '../util/cli.js';
import { startRegistry, type RunningRegistry, type TestServer } from '../registry/kit.js';
import { startProxy } from './proxy.js';
import { machines } from './machines.js';

const execFileP = promisify(execFile);

const t = suite('registry e2e: a bad cache layer falls back to building', { timeoutMs: 180_000 });
let reg: RunningRegistry;
let proxy: TestServer;
let rig: Rig;
/** What the proxy does to a GET of `badBlob`. */
let lie: 'flip' | 'truncate' | '404' | undefined;
let badBlob = '';

const DOCKERFILE = `FROM scratch
ARG M
COPY a.txt /a.txt
RUN ["/bin/sh", "-c", "echo run >> $M/runs.log; cat a.txt > b.txt"]
COPY c.txt /c.txt
`;

t.before(async () => {
  reg = await startRegistry();
  rig = new Rig('stratum-cache-fallback-');
  proxy = await startProxy(() => reg.host, (_m, url) => (lie && badBlob && url.endsWith(`/blobs/${badBlob}`) ? lie : undefined));
  rig.write({ 'ctxA/Dockerfile': DOCKERFILE, 'ctxA/a.txt': 'one\n', 'ctxA/c.txt': 'c\n', 'm/.keep': '' });
  const a = await build('ctxA', 'storeA', ['--cache-to', `type=registry,ref=${reg.host}/cache/fb:1,mode=max`, '--cache-to', `type=local,dest=${rig.path('cache')},mode=max`]);
  assert.is(a.code, 0, a.stderr);
  assert.equal(runs(), ['run']);
  badBlob = runBlob('cache');
  cpSync(rig.path('ctxA'), rig.path('ctxB'), { recursive: true });
});
t.after(async () => {
  await proxy?.stop();
  await reg?.stop();
  rig?.cleanup();
});

const { runs, build } = machines(() => rig);
const warnings = (r: CliResult) => r.events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message);

/** The blob of the RUN's layer in a local cache layout. */
function runBlob(dir: string): string {
  const blob = (d: string) => JSON.parse(rig.read(`${dir}/blobs/sha256/${d.slice(7)}`)) as Record<string, unknown>;
  const index = JSON.parse(rig.read(`${dir}/index.json`)) as { manifests: { digest: string }[] };
  const manifest = blob(index.manifests[0]!.digest) as { config: { digest: string } };
  const config = blob(manifest.config.digest) as { entries: { layer: string; record: { op: string } }[]; layers: { layer: string; blob: { digest: string } }[] };
  const entry = config.entries.find((e) => e.record.op === 'RUN')!;
  return config.layers.find((l) => l.layer === entry.layer)!.blob.digest;
}

/** Every file name under `dir`. */
function files(dir: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else out.push(n);
  }
  return out;
}

/** B's build fell back: one warning naming `where` and the blob, the RUN ran, the output is A's. */
async function assertFellBack(r: CliResult, store: string, out: string, where: string, n: number): Promise<void> {
  assert.is(r.code, 0, r.stderr + r.stdout);
  const w = warnings(r).filter((m) => m.includes(badBlob));
  assert.is(w.length, 1, JSON.stringify(warnings(r)));
  assert.match(w[0]!, where);
  assert.equal(runs().slice(n), ['run']);
  // The last pass: the RUN misses and says why; the COPYs hit.
  const last = stepsDone(r).slice(-4);
  const run = last.find((s) => s.instruction.startsWith('RUN'))!;
  assert.is(run.cached, false);
  assert.match(run.reason ?? '', 'failed verification');
  assert.ok(last.filter((s) => s.instruction.startsWith('COPY')).every((s) => s.cached), JSON.stringify(last));
  assert.is(rig.read(`${out}/b.txt`), 'one\n');
  assert.is(rig.read(`${out}/c.txt`), 'c\n');
  assert.not.ok(files(rig.path(store)).some((f) => f.includes(badBlob.slice(7))), 'the store holds the bad blob');
  // Nor any download: the layers fetched ahead of the bad one were removed with it.
  const staging = rig.path(`${store}/dirs/import`);
  assert.equal(existsSync(staging) ? files(staging) : [], [], 'import staging left behind');
  const v = await runCli(['cache', 'verify', '--cache-dir', rig.path(store)]);
  assert.is(v.code, 0, v.stdout + v.stderr);
}

t.test('a tampered blob in a type=local cache: the step builds, with a warning naming the cache and the digest', async () => {
  cpSync(rig.path('cache'), rig.path('cache-bad'), { recursive: true });
  const p = rig.path(`cache-bad/blobs/sha256/${badBlob.slice(7)}`);
  const bytes = readFileSync(p);
  bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff;
  writeFileSync(p, bytes);
  const n = runs().length;
  const r = await build('ctxB', 'storeL', ['--cache-from', `type=local,src=${rig.path('cache-bad')}`, '-o', `type=local,dest=${rig.path('outL')}`]);
  await assertFellBack(r, 'storeL', 'outL', rig.path('cache-bad'), n);
});

for (const how of ['flip', 'truncate', '404'] as const) {
  t.test(`a registry that ${how === 'flip' ? 'serves other bytes for' : how === 'truncate' ? 'keeps dropping the download of' : 'no longer serves'} a layer: the step builds, with a warning naming registry, repository and digest`, async () => {
    lie = how;
    try {
      const n = runs().length;
      const r = await build('ctxB', `store-${how}`, ['--cache-from', `type=registry,ref=${proxy.host}/cache/fb:1`, '-o', `type=local,dest=${rig.path(`out-${how}`)}`]);
      await assertFellBack(r, `store-${how}`, `out-${how}`, `${proxy.host}/cache/fb`, n);
    } finally {
      lie = undefined;
    }
  });
}

t.test('the same lie under an OCI output, which takes the blobs alone and unpacks none: the step builds, and the image holds the right files', async () => {
  lie = 'flip';
  try {
    const n = runs().length;
    const r = await build('ctxB', 'store-oci', ['--cache-from', `type=registry,ref=${proxy.host}/cache/fb:1`, '-o', `type=oci,dest=${rig.path('oci-flip')},tar=false`]);
    assert.is(r.code, 0, r.stderr + r.stdout);
    const w = warnings(r).filter((m) => m.includes(badBlob));
    assert.is(w.length, 1, JSON.stringify(warnings(r)));
    assert.match(w[0]!, `${proxy.host}/cache/fb`);
    assert.equal(runs().slice(n), ['run']);
    const index = JSON.parse(rig.read('oci-flip/index.json')) as { manifests: { digest: string }[] };
    const manifest = JSON.parse(rig.read(`oci-flip/blobs/sha256/${index.manifests[0]!.digest.slice(7)}`)) as { layers: { digest: string }[] };
    // The RUN built again makes the same layer as A's (so the same blob digest, maybe): what
    // the layout holds under each name must hash to it.
    for (const l of manifest.layers) assert.is(`sha256:${createHash('sha256').update(readFileSync(rig.path(`oci-flip/blobs/sha256/${l.digest.slice(7)}`))).digest('hex')}`, l.digest);
    // umoci checks every blob against its digest as it unpacks.
    await execFileP('umoci', ['unpack', '--rootless', '--image', `${rig.path('oci-flip')}:latest`, rig.path('oci-flip-root')]);
    assert.is(rig.read('oci-flip-root/rootfs/b.txt'), 'one\n');
    assert.is(rig.read('oci-flip-root/rootfs/c.txt'), 'c\n');
    const v = await runCli(['cache', 'verify', '--cache-dir', rig.path('store-oci')]);
    assert.is(v.code, 0, v.stdout + v.stderr);
  } finally {
    lie = undefined;
  }
});

t.test('without a lie, the same build runs nothing (the test above would have passed for a reason)', async () => {
  const n = runs().length;
  const r = await build('ctxB', 'store-good', ['--cache-from', `type=registry,ref=${proxy.host}/cache/fb:1`, '-o', `type=local,dest=${rig.path('out-good')}`]);
  assert.is(r.code, 0, r.stderr);
  assert.ok(stepsDone(r).every((s) => s.cached || s.metadata !== undefined));
  assert.is(runs().length, n);
  assert.is(rig.read('out-good/c.txt'), 'c\n');
});

t.run();
