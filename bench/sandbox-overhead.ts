/**
 * Sandbox start + teardown per RUN against `sh -c true` on the host (issue 13, goal ≤ 30 ms).
 * Run: node dist/bench/sandbox-overhead.js [rounds]. Prints medians in ms:
 *   host        spawn /bin/sh -c true
 *   sandbox     prepare (layer already extracted) + exec(/bin/sh -c true) + release
 *   +collect    the same plus the snapshot of an empty upper
 */
import { spawnSync } from 'node:child_process';
import { makeKit } from '../test/sandbox/kit.js';
import { createSandboxExecutor } from '../engine/sandbox/executor.js';
import { EMPTY_CHAIN } from '../cache/digest.js';

const rounds = Number(process.argv[2] ?? 30);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const kit = await makeKit();
const ex = createSandboxExecutor({ store: kit.store, caps: kit.caps });
const req = { argv: ['/bin/sh', '-c', 'true'], env: { PATH: '/bin' }, cwd: '/', mounts: [], network: 'host' as const, onLine: () => {} };
const host: number[] = [];
const sbx: number[] = [];
const withCollect: number[] = [];
await (await ex.prepare({ layers: [kit.base.digest], chain: EMPTY_CHAIN })).release(); // extract once
for (let i = 0; i < rounds; i++) {
  let t = performance.now();
  spawnSync('/bin/sh', ['-c', 'true']);
  host.push(performance.now() - t);
  t = performance.now();
  let root = await ex.prepare({ layers: [kit.base.digest], chain: EMPTY_CHAIN });
  const r = await root.exec(req);
  if (!r.ok) throw new Error(JSON.stringify(r));
  await root.release();
  sbx.push(performance.now() - t);
  t = performance.now();
  root = await ex.prepare({ layers: [kit.base.digest], chain: EMPTY_CHAIN });
  await root.exec(req);
  await root.collect();
  await root.release();
  withCollect.push(performance.now() - t);
}
await kit.cleanup();
const h = median(host);
console.log(JSON.stringify({ mapping: kit.caps.mapping.kind, rounds, hostMs: +h.toFixed(1), sandboxMs: +median(sbx).toFixed(1), overheadMs: +(median(sbx) - h).toFixed(1), withCollectMs: +median(withCollect).toFixed(1) }));
