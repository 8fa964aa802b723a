/**
 * The sandbox's live probe (engine/executors/choose.ts): no separate namespace is made before
 * the first RUN (the RUN's own helper makes it, and runs nothing when it cannot); only a
 * sandbox operation that fails at set-up runs the probe, so that a machine without user
 * namespaces still gets ESANDBOX with the reason and the fix, and a step's own failure stays
 * the step's. The real CLI, real namespaces; a machine that refuses them is made with
 * bubblewrap's --disable-userns (the kernel then answers unshare with ENOSPC while every
 * sysctl the static checks read looks fine, as in a container whose seccomp profile refuses
 * it). The first RUN's helper is started ahead (engine/sandbox/standby.ts); one that is not
 * needed is let go. Run again as the unprivileged user `stratumt` when root.
 */
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Rig, suite } from '../util/rig.js';
import { CLI, parseEvents, runCli, type CliResult } from '../util/cli.js';
import { rerunAsTestUser } from '../util/unprivileged.js';
import { which } from '../../engine/sandbox/detect.js';

const me = process.getuid!() === 0 ? 'root' : `uid ${process.getuid!()}`;
const t = suite<{ rig: Rig }>(`sandbox probe (${me})`, { timeoutMs: 60_000 });
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig('stratum-probe-');
});
t.afterEach(() => rig?.cleanup());

/**
 * A `perl` first on PATH that logs each sandbox helper spawn (`probe`, or the operation its
 * spec names) and then runs the real perl on the same spec.
 */
function loggingPerl(): { env: Record<string, string>; log: () => string[] } {
  const real = which('perl');
  assert.ok(real, 'perl on PATH');
  rig.write({
    'bin/perl': `#!/bin/sh
spec=$(mktemp)
cat <&3 >"$spec"
if grep -q nonexistent-stratum-probe "$spec"; then echo probe >>"${rig.path('perl.log')}"
elif [ -s "$spec" ]; then tr '\\0' '\\n' <"$spec" | sed -n 3p >>"${rig.path('perl.log')}"
else echo '(no spec)' >>"${rig.path('perl.log')}"; fi
exec 3<"$spec"
rm -f "$spec"
exec ${real} "$@"
`,
  });
  chmodSync(rig.path('bin/perl'), 0o755);
  return {
    env: { PATH: `${rig.path('bin')}:${process.env.PATH ?? '/usr/bin:/bin'}` },
    // The helper spawns that set up or check a sandbox: the host-tools overlay's own snapshot
    // of its upper and its clean-up (a rootless run dir removed in the namespace) are neither.
    log: () => (existsSync(rig.path('perl.log')) ? readFileSync(rig.path('perl.log'), 'utf8').trim().split('\n').filter((l) => l && l !== 'snapshot' && l !== 'remove') : []),
  };
}

function build(dockerfile: string, env: Record<string, string> = {}): Promise<CliResult> {
  rig.write({ 'ctx/Dockerfile': dockerfile });
  return runCli(['build', '--progress=json', '--cache-dir', rig.path('store'), rig.path('ctx')], { env: { STRATUM_CACHE_DIR: rig.path('store'), ...env } });
}

t.test('a RUN that works spawns no probe: its own helper was the check', async () => {
  const perl = loggingPerl();
  const r = await build('FROM scratch\nRUN echo hi > f\n', perl.env);
  assert.is(r.code, 0, r.stderr);
  assert.equal(perl.log(), ['hosttools'], 'one helper spawn, the RUN');
});

t.test('a cold build whose RUN never runs lets its ready helper go: an empty spec, and the CLI exits', async () => {
  const perl = loggingPerl();
  // The RUN has no earlier build here, so its helper is started ahead; the COPY before it fails.
  const r = await build('FROM scratch\nCOPY missing.txt /\nRUN echo never > f\n', perl.env);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /missing\.txt/);
  assert.equal(perl.log(), ['(no spec)'], 'started ahead, then let go without an operation');
});

t.test('a step that fails at exec stays the step\'s failure; the probe runs once to tell', async () => {
  const perl = loggingPerl();
  const r = await build('FROM scratch\nRUN ["/nonexistent-stratum-cmd"]\n', perl.env);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /could not start \/nonexistent-stratum-cmd/);
  assert.not.match(r.stderr, /ESANDBOX|user namespace/);
  assert.equal(perl.log(), ['hosttools', 'probe']);
});

t.test('a machine that refuses user namespaces fails the first RUN with ESANDBOX, the reason and the fix (exit 3)', async () => {
  const bwrap = which('bwrap');
  assert.ok(bwrap, 'bwrap (bubblewrap) on PATH');
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nRUN echo ran > /tmp/never\n' });
  // The CLI in a user namespace that may make no further ones, with the host's tree as is.
  const child = spawn(bwrap, ['--unshare-user', '--disable-userns', '--dev-bind', '/', '/', '--', process.execPath, CLI, 'build', '--progress=json', '--cache-dir', rig.path('store'), rig.path('ctx')], {
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  assert.is(code, 3, stderr);
  assert.match(stderr, /a user namespace could not be created: unshare: No space left on device/);
  assert.match(stderr, /check that user namespaces are allowed here/);
  assert.match(stderr, /--executor=host/);
  assert.not.match(stderr, /could not start|at .*\.js:\d+/, 'no step-level message, no stack trace');
  const events = parseEvents(stdout);
  const failed = events.find((e) => e.type === 'step-failed');
  assert.ok(failed && failed.type === 'step-failed' && failed.index === 2, stdout);
  assert.not.ok(events.some((e) => e.type === 'step-done' && e.index === 2), 'the RUN never finished');
  const done = events.find((e) => e.type === 'build-done');
  assert.is(done?.type === 'build-done' ? done.error?.code : undefined, 'ESANDBOX');
});

t.run();

rerunAsTestUser('sandbox probe rootless', 'sandbox probe', fileURLToPath(import.meta.url), 'STRATUM_PROBE_CHILD');
