/**
 * Eight builds of one project at once, with different build-args, on one store, as real
 * CLI processes: every output equals the same build made alone with a fresh store. Before
 * workspace slots, they shared one workspace and an image could hold another build's files
 * (issue 11, item 1). Rounds: 3 in CI, 20 under STRATUM_STRESS=1.
 */
import * as assert from 'uvu/assert';
import { suite, Rig } from '../util/rig.js';
import { build, References, STRESS, strayRuns, tree, writeProject } from './rig.js';

const ROUNDS = STRESS ? 20 : 3;
const BUILDS = 8;
const t = suite('reliability: concurrent builds', { timeoutMs: STRESS ? 1_800_000 : 150_000 });

t.test(`${BUILDS} concurrent builds with different build-args equal their lone builds (${ROUNDS} rounds)`, async () => {
  const rig = new Rig('stratum-conc-');
  const refs = new References();
  try {
    writeProject(rig);
    const whos = Array.from({ length: BUILDS }, (_, i) => `w${i}`);
    for (const who of whos) await refs.get(who, 0, (r) => writeProject(r));
    const store = rig.path('store');
    let slotsSeen = 0;
    const t0 = Date.now();
    for (let round = 0; round < ROUNDS; round++) {
      // A new ROUND reruns every RUN (its key changes, its output does not); the args
      // rotate over the output folders so each build starts from another's workspace.
      const results = await Promise.all(
        whos.map((who, i) => {
          const w = whos[(i + round) % BUILDS]!;
          return build(store, w, rig.path(`out-${round}-${i}`), rig.path('ctx'), round + 1).then((r) => ({ r, w, i }));
        }),
      );
      for (const { r, w, i } of results) {
        assert.is(r.code, 0, `round ${round} build ${w}: ${r.stderr}`);
        slotsSeen += r.events.filter((e) => e.type === 'contention').length;
        assert.equal(tree(rig.path(`out-${round}-${i}`)), await refs.get(w, 0, (x) => writeProject(x)), `round ${round}: output of WHO=${w}`);
      }
    }
    // A later lone build of each arg is served from the cache and is still right.
    for (const who of whos.slice(0, 2)) {
      const r = await build(store, who, rig.path(`final-${who}`), rig.path('ctx'));
      assert.is(r.code, 0, r.stderr);
      assert.equal(tree(rig.path(`final-${who}`)), await refs.get(who, 0, (x) => writeProject(x)), `cached WHO=${who}`);
    }
    assert.ok(slotsSeen > 0, 'concurrent builds reported taking other workspace slots');
    assert.equal(strayRuns(), [], 'no RUN left running');
    console.log(`  ${ROUNDS} rounds × ${BUILDS} builds in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${slotsSeen} contention events`);
  } finally {
    rig.cleanup();
  }
});

t.run();
