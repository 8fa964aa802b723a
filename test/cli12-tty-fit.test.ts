/**
 * Issue 12, item 3: the watch UI fits the terminal. Under tmux at 80×24 and 60×24, a build
 * of many steps with a chatty running step keeps the header and the running row on screen.
 */
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { suite, Rig } from './util/rig.js';
import { CLI } from './util/cli.js';
import { fitWatch } from '../cli/ui/App.js';
import type { StepRowState } from '../cli/ui/state.js';

const t = suite('cli12 tty fit', { timeoutMs: 60_000 });
const socket = `stratum-fit-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });

const row = (index: number, status: StepRowState['status']): StepRowState => ({ index, total: 30, stage: '0', stageIndex: index, stageTotal: 30, instruction: `RUN step ${index}`, line: index, status });

t.test('fitWatch: finished rows fold, pending rows are counted, the log gets what is left', () => {
  const steps = [...Array.from({ length: 20 }, (_, i) => row(i + 1, i % 2 ? 'hit' : 'done')), row(21, 'running'), ...Array.from({ length: 9 }, (_, i) => row(22 + i, 'pending'))];
  const f = fitWatch(steps, 24, 0, true);
  assert.ok(f.folded > 0);
  assert.ok(f.rows.some((r) => r.status === 'running'), 'the running row is shown');
  const lines = 8 + 1 + f.rows.length + (f.more ? 1 : 0) + f.logLines;
  assert.ok(lines <= 24, `fits: ${lines} lines`);
  assert.ok(f.logLines >= 2);
  assert.equal(fitWatch(steps.slice(0, 3), 24, 0, true).folded, 0, 'nothing folds when it fits');
});

for (const width of [80, 60]) {
  t.test(`under tmux at ${width}×24 the header and the running step stay visible`, async () => {
    const rig = new Rig();
    try {
      const steps = Array.from({ length: 18 }, (_, i) => `COPY f${i}.txt /`).join('\n');
      const files = Object.fromEntries(Array.from({ length: 18 }, (_, i) => [`ctx/f${i}.txt`, `${i}\n`]));
      rig.write({ ...files, 'ctx/Dockerfile': `FROM scratch\n${steps}\nRUN for i in $(seq 1 40); do echo line$i; done; sleep 30\nRUN echo after\n` });
      tmux('new-session', '-d', '-s', 'w', '-x', String(width), '-y', '24', `${process.execPath} ${CLI} watch --progress=tty --cache-dir ${rig.path('store')} ${rig.path('ctx')}`);
      let screen = '';
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        screen = tmux('capture-pane', '-p', '-t', 'w');
        if (/line40/.test(screen)) break;
        await new Promise((r) => setTimeout(r, 150));
      }
      const lines = screen.split('\n');
      assert.match(lines.find((l) => l.trim() !== '') ?? '', /^stratum watch/, `the header is the first line:\n${screen}`);
      assert.match(screen, /RUN for i in/, `the running row is visible:\n${screen}`);
      assert.match(screen, /line40/, 'the latest output is visible');
      assert.match(screen, /steps? (cached|done)/, 'finished rows folded');
      assert.ok(lines.every((l) => l.length <= width));
      tmux('resize-window', '-t', 'w', '-x', String(width - 10), '-y', '20');
      await new Promise((r) => setTimeout(r, 600));
      const after = tmux('capture-pane', '-p', '-t', 'w');
      assert.is(after.split('\n').filter((l) => /^stratum watch/.test(l)).length, 1, `no ghost header after a resize:\n${after}`);
    } finally {
      try {
        tmux('kill-server');
      } catch {
        // already gone
      }
      rig.cleanup();
    }
  });
}

t.run();
