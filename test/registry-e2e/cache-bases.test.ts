/**
 * A cache carries what a fresh machine needs to use it, through the real CLI (two stores are
 * two machines; RUNs run in the sandbox on a busybox base):
 * - a base only machine A has (`FROM oci-layout://DIR` whose DIR is not in B's context, or a
 *   name A imported with `stratum load`) travels in the cache: B hits every step, downloads
 *   the base's layers only for an output, and a RUN that reruns on B runs on that base;
 * - a registry base is recorded, not carried: B resolves its tag with the registry and, the
 *   manifest being the cache's, hits every step without pulling it (its layers come from its
 *   registry for the output; test/registry-e2e/cache-registry-base.test.ts has the details).
 */
import * as assert from 'uvu/assert';
import { cpSync, existsSync, rmSync } from 'node:fs';
import { suite, Rig } from '../util/rig.js';
import { runCli, stepsDone, type CliResult } from '../util/cli.js';
import { busyboxBase } from '../util/base-images.js';
import { skopeo, startRegistry, type RunningRegistry, type TestServer } from '../registry/kit.js';
import { startProxy } from './proxy.js';

const t = suite('registry e2e: caches carry the bases a fresh machine lacks', { timeoutMs: 240_000 });
let reg: RunningRegistry;
let proxy: TestServer;
let rig: Rig;
let base: string;

const STEPS = `COPY a.txt /a.txt
RUN cat /a.txt > /b.txt && echo ran > /ran.txt
`;

t.before(async () => {
  reg = await startRegistry();
  proxy = await startProxy(() => reg.host);
  rig = new Rig('stratum-cache-bases-');
  base = await busyboxBase();
});
t.after(async () => {
  await proxy?.stop();
  await reg?.stop();
  rig?.cleanup();
});

const build = (ctx: string, store: string, extra: string[]): Promise<CliResult> => runCli(['build', '--progress=json', '--cache-dir', rig.path(store), ...extra, rig.path(ctx)]);
const allCached = (r: CliResult) => stepsDone(r).every((s) => s.cached || s.metadata !== undefined);
const blobGets = () => proxy.seen.filter((r) => r.method === 'GET' && r.url.includes('/blobs/')).length;
const cacheConfig = (dir: string) => {
  const blob = (d: string) => JSON.parse(rig.read(`${dir}/blobs/sha256/${d.slice(7)}`)) as Record<string, unknown>;
  const index = JSON.parse(rig.read(`${dir}/index.json`)) as { manifests: { digest: string }[] };
  return blob((blob(index.manifests[0]!.digest) as { config: { digest: string } }).config.digest) as { bases?: { ref: string }[] };
};

t.test('FROM oci-layout:// that only machine A has: B hits every step, and a RUN that reruns on B runs on the carried base', async () => {
  rig.write({ 'ctxA/Dockerfile': `FROM oci-layout://base:latest\n${STEPS}`, 'ctxA/a.txt': 'one\n' });
  cpSync(base, rig.path('ctxA/base'), { recursive: true });
  const a = await build('ctxA', 'storeA', ['--cache-to', `type=registry,ref=${reg.host}/cache/bases:1,mode=max`, '--cache-to', `type=local,dest=${rig.path('cacheA')},mode=max`]);
  assert.is(a.code, 0, a.stderr);
  assert.equal(cacheConfig('cacheA').bases?.map((b) => b.ref), ['oci-layout://base:latest']);

  // Machine B: the same context without the layout directory.
  cpSync(rig.path('ctxA'), rig.path('ctxB'), { recursive: true });
  rmSync(rig.path('ctxB/base'), { recursive: true });
  const without = await build('ctxB', 'storeB0', []);
  assert.is.not(without.code, 0, 'B builds without the cache: the test proves nothing');

  // No output: every step hits and no layer is downloaded (the cache's config only).
  const gets = blobGets();
  const lazy = await build('ctxB', 'storeB1', ['--cache-from', `type=registry,ref=${proxy.host}/cache/bases:1`]);
  assert.is(lazy.code, 0, lazy.stderr);
  assert.ok(allCached(lazy), JSON.stringify(stepsDone(lazy)));
  assert.is(blobGets() - gets, 1);

  // An output needs the base's layers too: they come from the cache.
  const out = await build('ctxB', 'storeB2', ['--cache-from', `type=local,src=${rig.path('cacheA')}`, '-o', `type=local,dest=${rig.path('outB')}`]);
  assert.is(out.code, 0, out.stderr);
  assert.ok(allCached(out));
  assert.is(rig.read('outB/b.txt'), 'one\n');
  assert.ok(existsSync(rig.path('outB/bin/busybox')), 'the base layer is in the output');

  // A change on B: the RUN runs, in the sandbox, on the base that came with the cache.
  rig.write({ 'ctxB/a.txt': 'two\n' });
  const rerun = await build('ctxB', 'storeB3', ['--cache-from', `type=registry,ref=${proxy.host}/cache/bases:1`, '-o', `type=local,dest=${rig.path('outB3')}`]);
  assert.is(rerun.code, 0, rerun.stderr);
  const run = stepsDone(rerun).find((s) => s.instruction.startsWith('RUN'))!;
  assert.is(run.cached, false);
  assert.is(rig.read('outB3/b.txt'), 'two\n');
});

t.test('FROM a name machine A imported with stratum load: B, which never had it, hits every step and asks no registry', async () => {
  const load = await runCli(['load', '--cache-dir', rig.path('storeL'), base, '-t', 'stratum-test-local-base:1']);
  assert.is(load.code, 0, load.stderr);
  rig.write({ 'ctxL/Dockerfile': `FROM stratum-test-local-base:1\n${STEPS}`, 'ctxL/a.txt': 'loaded\n' });
  const a = await build('ctxL', 'storeL', ['--cache-to', `type=local,dest=${rig.path('cacheL')},mode=min`]);
  assert.is(a.code, 0, a.stderr);
  cpSync(rig.path('ctxL'), rig.path('ctxL2'), { recursive: true });
  const b = await build('ctxL2', 'storeL2', ['--cache-from', `type=local,src=${rig.path('cacheL')}`, '-o', `type=local,dest=${rig.path('outL')}`]);
  assert.is(b.code, 0, b.stderr);
  assert.ok(allCached(b), JSON.stringify(stepsDone(b)));
  assert.not.ok(b.events.some((e) => e.type === 'warning' && e.message.startsWith('pulled')));
  assert.is(rig.read('outL/b.txt'), 'loaded\n');
  assert.ok(existsSync(rig.path('outL/bin/busybox')));
  // Its layers came in for the output: the base is in B's store under its name now.
  const again = await build('ctxL2', 'storeL2', []);
  assert.is(again.code, 0, again.stderr);
  assert.ok(allCached(again), JSON.stringify(stepsDone(again)));
});

t.test('FROM a registry image: the cache records it without its layers, B does not pull it and hits every step', async () => {
  await skopeo(['copy', '--dest-tls-verify=false', `oci:${base}:latest`, `docker://${reg.host}/lib/busybox:1`]);
  rig.write({ 'ctxR/Dockerfile': `FROM ${reg.host}/lib/busybox:1\n${STEPS}`, 'ctxR/a.txt': 'registry\n' });
  const a = await build('ctxR', 'storeR', ['--cache-to', `type=local,dest=${rig.path('cacheR')},mode=max`]);
  assert.is(a.code, 0, a.stderr);
  const recorded = cacheConfig('cacheR').bases as { ref: string; registry?: { manifestDigest: string } }[];
  assert.equal(recorded.map((b) => b.ref), [`${reg.host}/lib/busybox:1`]);
  assert.ok(recorded[0]!.registry?.manifestDigest.startsWith('sha256:'));
  const layers = (JSON.parse(rig.read(`cacheR/blobs/sha256/${(JSON.parse(rig.read('cacheR/index.json')) as { manifests: { digest: string }[] }).manifests[0]!.digest.slice(7)}`)) as { layers: unknown[] }).layers;
  assert.is(layers.length, 2, 'the cache holds the two step layers, not the base layer');
  cpSync(rig.path('ctxR'), rig.path('ctxR2'), { recursive: true });
  const b = await build('ctxR2', 'storeR2', ['--cache-from', `type=local,src=${rig.path('cacheR')}`, '-o', `type=local,dest=${rig.path('outR')}`]);
  assert.is(b.code, 0, b.stderr);
  assert.ok(allCached(b), JSON.stringify(stepsDone(b)));
  assert.not.ok(b.events.some((e) => e.type === 'warning' && e.message.startsWith('pulled')));
  assert.is(rig.read('outR/b.txt'), 'registry\n');
  assert.ok(existsSync(rig.path('outR/bin/busybox')), 'the base layer is in the output');
});

t.run();
