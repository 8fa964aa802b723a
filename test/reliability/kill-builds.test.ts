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
import { build, buildArgs, References, runCli, setVariant, startCli, STRESS, strayRuns, tree, writeProject } from './rig.js';

const K = Number(process.env.STRATUM_KILL_K ?? (STRESS ? 200 : 20));
const FILES = 120; // every file changes between variants: moving between them is a real sync
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
  const setup = (variant: number) => (r: Rig) => writeProject(r, { files: FILES, variant, allVary: true });
  try {
    writeProject(rig, { files: FILES, allVary: true });
    const store = rig.path('store');
    const ctx = rig.path('ctx');
    const t0 = Date.now();
    let killedMidway = 0;
    let inSync = 0;
    let variant = 0;
    /** The variant the workspace holds: that of the last normal build. */
    let held = 0;
    for (let k = 0; k < K; k++) {
      const who = rand() < 0.5 ? 'a' : 'b';
      // Every fifth round starts cold (no store at all); the others are incremental.
      if (k % 5 === 0) rmSync(store, { recursive: true, force: true });
      // Half the kills land in the first RUN's workspace sync (it starts right after the
      // step-start event); the others at any instant of the build.
      const aimAtSync = rand() < 0.5;
      // Most rounds move to another variant: the RUN's workspace sync rewrites sources.
      if (aimAtSync || rand() < 0.8) variant = (held + 1 + Math.floor(rand() * 2)) % 3;
      setVariant(rig, variant, FILES);
      const { child, done } = startCli(buildArgs(store, who, rig.path('out-killed'), ctx));
      if (aimAtSync) {
        let seen = '';
        child.stdout!.on('data', (d) => {
          seen += d;
          if (/"type":"step-start"[^\n]*"instruction":"RUN mkdir/.test(seen)) {
            seen = '';
            setTimeout(() => child.kill('SIGKILL'), rand() * 15);
          }
        });
        setTimeout(() => child.kill('SIGKILL'), 3000); // RUN hit: kill wherever it is
      } else {
        // At a random instant early in the build itself, measured from its start (not from
        // the spawn: node's start-up swings with the machine's load, and an incremental build
        // here is over within ~100 ms of its build-start on an idle machine).
        const delay = rand() * 60;
        let seen = '';
        child.stdout!.on('data', (d) => {
          seen += d;
          if (seen.includes('"type":"build-start"')) {
            seen = '';
            setTimeout(() => child.kill('SIGKILL'), delay);
          }
        });
        setTimeout(() => child.kill('SIGKILL'), 3000);
      }
      const killed = await done;
      if (killed.signal === 'SIGKILL') killedMidway++;
      if (aimAtSync && killed.signal === 'SIGKILL') inSync++;

      // Then a normal build. After a kill aimed at the sync, the third variant: its diff from
      // what the workspace records misses files the cut-short sync changed, so only a
      // workspace that knows it is dirty gets them right.
      const who2 = aimAtSync || rand() < 0.5 ? who : who === 'a' ? 'b' : 'a';
      if (aimAtSync) {
        variant = 3 - held - variant;
        setVariant(rig, variant, FILES);
      }
      held = variant;
      const out = rig.path(`out-${k}`);
      const r = await build(store, who2, out, ctx);
      const at = `seed ${seed}, round ${k} (killed WHO=${who}${aimAtSync ? ' in its sync' : ''}, rebuilt WHO=${who2} variant ${variant})`;
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
    // The kill instants are random against a build whose length varies with the machine's load:
    // a quarter landing mid-build is what keeps this test meaningful.
    assert.ok(killedMidway >= K / 4, `enough kills should land mid-build (${killedMidway}/${K})`);
    console.log(`  ${K} kills (${killedMidway} mid-build, ${inSync} aimed at a sync, seed ${seed}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    rig.cleanup();
  }
});

t.run();
