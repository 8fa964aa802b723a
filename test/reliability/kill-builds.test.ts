/**
 * `kill -9` at random instants of cold and incremental builds (workspace syncs, RUNs,
 * snapshots, store writes), then a normal build: its output equals the same build made
 * alone with a fresh store, `stratum cache verify` finds nothing bad, and no RUN is left
 * running. Before dirty markers, a kill mid-sync left a workspace whose records claimed a
 * tree it did not hold, and the next build cached that (issue 11, item 1).
 * K = 20 in CI, 200 under STRATUM_STRESS=1.
 */
import * as assert from 'uvu/assert';
import { rmSync } from 'node:fs';
import { suite, Rig } from '../util/rig.js';
import { build, buildArgs, References, runCli, setVariant, sleep, startCli, STRESS, strayRuns, tree, writeProject } from './rig.js';

const K = STRESS ? 200 : 20;
const FILES = 60; // enough that a sync has a while to write and to delete, small enough for CI
const t = suite('reliability: kill -9', { timeoutMs: STRESS ? 3_600_000 : 150_000 });

/** A seeded generator, so a failure names a reproducible sequence. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

t.test(`kill -9 at ${K} random instants, then a normal build is right and the store verifies clean`, async () => {
  const seed = Number(process.env.STRATUM_KILL_SEED ?? Date.now() % 1_000_000);
  const rand = rng(seed);
  const rig = new Rig('stratum-kill-');
  const refs = new References();
  const setup = (variant: number) => (r: Rig) => writeProject(r, { files: FILES, variant });
  try {
    writeProject(rig, { files: FILES });
    const store = rig.path('store');
    const ctx = rig.path('ctx');
    const t0 = Date.now();
    let killedMidway = 0;
    for (let k = 0; k < K; k++) {
      const who = rand() < 0.5 ? 'a' : 'b';
      const variant = Math.floor(rand() * 3);
      // Every fourth round starts cold (no store at all); the others are incremental.
      if (k % 4 === 0) rmSync(store, { recursive: true, force: true });
      setVariant(rig, variant);
      const { child, done } = startCli(buildArgs(store, who, rig.path('out-killed'), ctx));
      await sleep(150 + rand() * 700); // node start-up is ~150 ms; a build ~1 s
      const wasRunning = child.exitCode === null;
      child.kill('SIGKILL');
      const killed = await done;
      if (wasRunning && killed.signal === 'SIGKILL') killedMidway++;

      // Then a normal build, with another arg half the time (the workspace must be brought back).
      const who2 = rand() < 0.5 ? who : who === 'a' ? 'b' : 'a';
      const out = rig.path(`out-${k}`);
      const r = await build(store, who2, out, ctx);
      const at = `seed ${seed}, round ${k} (killed WHO=${who} variant ${variant}, rebuilt WHO=${who2})`;
      assert.is(r.code, 0, `${at}: ${r.stderr}`);
      assert.equal(tree(out), await refs.get(who2, variant, setup(variant)), `${at}: output`);
      rmSync(out, { recursive: true, force: true });
      assert.equal(strayRuns(), [], `${at}: a RUN of the killed build is still running`);
      if (k % 5 === 4 || k === K - 1) {
        const v = await runCli(['cache', 'verify', '--format', 'json', '--cache-dir', store]);
        assert.is(v.code, 0, v.stderr);
        const rep = JSON.parse(v.stdout) as { badBlobs: number; badLayers: number; badKeys: number };
        assert.equal([rep.badBlobs, rep.badLayers, rep.badKeys], [0, 0, 0], `${at}: verify`);
      }
    }
    assert.ok(killedMidway >= K / 2, `most kills should land mid-build (${killedMidway}/${K})`);
    console.log(`  ${K} kills (${killedMidway} mid-build, seed ${seed}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    rig.cleanup();
  }
});

t.run();
