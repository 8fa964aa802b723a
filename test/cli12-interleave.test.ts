/**
 * Issue 12, item 10: a RUN's stdout and stderr lines arrive in the order it wrote them
 * (engine/merged-output.ts), with the host executor and the default one.
 */
import * as assert from 'uvu/assert';
import { suite, Rig } from './util/rig.js';
import { runCli } from './util/cli.js';
import { mergeStderr } from '../engine/merged-output.js';

const t = suite('cli12 interleave', { timeoutMs: 60_000 });
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig();
});
t.afterEach(() => rig.cleanup());

t.test('mergeStderr: shell scripts share one pipe, exec form is left alone', () => {
  assert.equal(mergeStderr(['/bin/sh', '-c', 'echo a']), ['/bin/sh', '-c', 'exec 2>&1; echo a']);
  assert.equal(mergeStderr(['/bin/bash', '-c', 'x']), ['/bin/bash', '-c', 'exec 2>&1; x']);
  assert.equal(mergeStderr(['/app/tool', '--flag']), ['/app/tool', '--flag']);
  assert.equal(mergeStderr(['pwsh', '-c', 'x']), ['pwsh', '-c', 'x']);
});

// Writes that land between two event-loop wakes: with two pipes they were read pipe by pipe.
const SCRIPT = 'RUN for i in 1 2 3 4 5 6 7 8 9 10; do echo out$i; echo err$i >&2; done';

for (const executor of ['host', 'sandbox']) {
  t.test(`${executor}: 20 alternating lines keep their order`, async () => {
    rig.write({ 'ctx/Dockerfile': `FROM scratch\n${SCRIPT}\n` });
    const r = await runCli(['build', '--progress=json', '--executor', executor, '--cache-dir', rig.path('store'), rig.path('ctx')]);
    if (executor === 'sandbox' && r.code !== 0 && /sandbox|namespace/i.test(r.stderr)) return; // no user namespaces here
    assert.is(r.code, 0, r.stderr);
    const lines = r.events.flatMap((e) => (e.type === 'step-log' ? [e.line] : []));
    const want = Array.from({ length: 10 }, (_, i) => [`out${i + 1}`, `err${i + 1}`]).flat();
    assert.equal(lines, want);
  });
}

t.test('a shell error still names the script\'s own line', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nRUN nosuchcommand-xyz\n' });
  const r = await runCli(['build', '--progress=json', '--executor', 'host', '--cache-dir', rig.path('store'), rig.path('ctx')]);
  assert.is(r.code, 1);
  const lines = r.events.flatMap((e) => (e.type === 'step-log' ? [e.line] : []));
  assert.ok(lines.some((l) => /nosuchcommand-xyz/.test(l) && /\b1\b/.test(l) || /not found/.test(l)), lines.join('\n'));
});

t.run();
