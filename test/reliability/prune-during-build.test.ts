/**
 * `prune --keep-storage 0 --grace 0s` while a build runs: the build's lease keeps what it
 * stands on, so it succeeds with the right output; and the file lists behind miss
 * explanations survive with their keys, so the next change is still explained by name
 * ("src/f2.txt changed", not "f1, f2, f3 (+1 more) added"). Issue 11, item 2.
 */
import * as assert from 'uvu/assert';
import { suite, Rig } from '../util/rig.js';
import { buildArgs, References, runCli, setVariant, sleep, startCli, tree, writeProject } from './rig.js';
import { stepsDone } from '../util/cli.js';

const t = suite('reliability: prune during a build', { timeoutMs: 120_000 });

t.test('prune --keep-storage 0 concurrent with a build: the build is right and explanations still name the file', async () => {
  const rig = new Rig('stratum-prune-');
  const refs = new References();
  try {
    const setup = (variant: number) => (r: Rig) => writeProject(r, { sleep: '1', variant });
    writeProject(rig, { sleep: '1' });
    const store = rig.path('store');
    const ctx = rig.path('ctx');
    const first = await runCli(buildArgs(store, 'one', rig.path('out1'), ctx));
    assert.is(first.code, 0, first.stderr);

    // A second build (another arg: its RUNs rerun) and a prune while its RUN sleeps.
    const { child, done } = startCli(buildArgs(store, 'two', rig.path('out2'), ctx));
    let stdout = '';
    child.stdout!.on('data', (d) => (stdout += d));
    for (let i = 0; i < 200 && !/"type":"step-start"[^\n]*"instruction":"RUN mkdir/.test(stdout); i++) await sleep(25);
    assert.match(stdout, /"instruction":"RUN mkdir/, 'the build reached its RUN');
    const prune = await runCli(['prune', '--keep-storage', '0', '--grace', '0s', '--format', 'json', '--cache-dir', store]);
    assert.is(prune.code, 0, prune.stderr);
    const report = JSON.parse(prune.stdout) as { removedKeys: number; leases: number };
    assert.is(report.leases, 1, 'prune saw the running build');
    assert.ok(report.removedKeys > 0, 'prune did evict the first build');
    const r = await done;
    assert.is(r.code, 0, r.stderr);
    assert.equal(tree(rig.path('out2')), await refs.get('two', 0, setup(0)), 'the build that ran through the prune');

    // The next change is explained by name.
    setVariant(rig, 1);
    const next = await runCli(buildArgs(store, 'two', rig.path('out3'), ctx));
    assert.is(next.code, 0, next.stderr);
    const copy = stepsDone(next).find((e) => e.instruction.startsWith('COPY'));
    assert.is(copy?.reason, 'src/f2.txt changed');
    assert.equal(tree(rig.path('out3')), await refs.get('two', 1, setup(1)));
  } finally {
    rig.cleanup();
  }
});

t.run();
