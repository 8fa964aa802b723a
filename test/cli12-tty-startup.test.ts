/**
 * Issue 12, item 9: start-up of `stratum build --progress=tty` under tmux. The first frame
 * painted is the real one (the header and the plan's step rows, drawn before Ink is loaded),
 * not a placeholder; a cached build ends on it without loading Ink; a build that runs a step
 * loads Ink, which takes over without leaving a line of the early frame behind. The bytes the
 * CLI wrote are recorded by script(1) inside the tmux pane. No timing is asserted (the time to
 * the first frame is measured in bench/tty-first-frame.ts).
 */
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { suite, Rig } from './util/rig.js';
import { CLI, runCli } from './util/cli.js';

const t = suite('cli12 tty startup', { timeoutMs: 90_000 });
const socket = `stratum-startup-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
// eslint-disable-next-line no-control-regex
const strip = (s: string) => s.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
/** Ink 6 wraps its frames in a synchronized update; the early painter never writes one. */
const SYNC = '\u001b[?2026h';
/** The early painter's erase: clear a line and go up (the same bytes as Ink's log-update). */
// eslint-disable-next-line no-control-regex
const ERASE = /\u001b\[2K\u001b\[1A/;

const STEPS = 5;
const DOCKERFILE = 'FROM scratch\nCOPY a /\nARG N\nRUN echo $N > n && sleep 1\nCOPY a /c\n';

/** Runs `args` in a 100×30 tmux pane under script(1); resolves with the bytes written and the screen once it exits. */
async function inTmux(rig: Rig, args: string[]): Promise<{ raw: string; screen: string; code: number }> {
  const raw = rig.path(`raw-${Math.random().toString(36).slice(2)}.log`);
  const done = `${raw}.exit`;
  const command = [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(' ');
  tmux('new-session', '-d', '-s', 'b', '-x', '100', '-y', '30', `script -qfec "${command}" ${raw}; echo $? > ${done}; sleep 120`);
  try {
    const deadline = Date.now() + 60_000;
    while (!existsSync(done) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(existsSync(done), `the build ended:\n${tmux('capture-pane', '-p', '-t', 'b')}`);
    return { raw: readFileSync(raw, 'utf8'), screen: tmux('capture-pane', '-p', '-S', '-', '-t', 'b'), code: Number(readFileSync(done, 'utf8').trim()) };
  } finally {
    try {
      tmux('kill-server');
    } catch {
      // already gone
    }
  }
}

/** What the CLI painted before its first erase or Ink's first frame: its first frame. */
function firstFrame(raw: string): string {
  const body = raw.slice(raw.indexOf('\n') + 1); // script(1)'s header line
  const cut = [body.search(ERASE), body.indexOf(SYNC)].filter((i) => i >= 0);
  return strip(cut.length ? body.slice(0, Math.min(...cut)) : body);
}

/** The screen and its scrollback have the header once and every step row once: nothing of an earlier frame is left. */
function assertNoGhost(screen: string, header: RegExp): void {
  const lines = screen.split('\n');
  assert.is(lines.filter((l) => /^stratum build/.test(l)).length, 1, `one header:\n${screen}`);
  assert.match(screen, header, `the final header:\n${screen}`);
  for (let i = 1; i <= STEPS; i++) assert.is(lines.filter((l) => l.includes(`[${i}/${STEPS}]`)).length, 1, `row ${i}/${STEPS} once:\n${screen}`);
  assert.not.match(screen, /starting|building/, `no line of a running frame is left:\n${screen}`);
}

t.test('the first frame shows the plan\'s steps; a cached build ends on it without loading Ink', async () => {
  const rig = new Rig();
  try {
    rig.write({ 'ctx/Dockerfile': DOCKERFILE, 'ctx/a': 'a\n' });
    const warm = await runCli(['build', '--progress=plain', '--cache-dir', rig.path('store'), '--build-arg', 'N=1', rig.path('ctx')]);
    assert.is(warm.code, 0, warm.stderr);
    const r = await inTmux(rig, ['build', '--progress=tty', '--cache-dir', rig.path('store'), '--build-arg', 'N=1', rig.path('ctx')]);
    assert.is(r.code, 0, r.screen);
    const first = firstFrame(r.raw);
    assert.match(first, /^stratum build · /m, `the first frame has the header:\n${first}`);
    assert.match(first, /\[1\/5\] FROM scratch/, `the first frame has the step rows:\n${first}`);
    assert.not.match(first, /starting/, `not a placeholder:\n${first}`);
    assert.not.ok(r.raw.includes(SYNC), 'a cached build never loads Ink');
    assertNoGhost(r.screen, /^stratum build · ok in .* 3 hits · 0 misses/m);
  } finally {
    rig.cleanup();
  }
});

t.test('a build that runs a step: the early frame shows the steps, Ink takes over and leaves no ghost line', async () => {
  const rig = new Rig();
  try {
    rig.write({ 'ctx/Dockerfile': DOCKERFILE, 'ctx/a': 'a\n' });
    const r = await inTmux(rig, ['build', '--progress=tty', '--cache-dir', rig.path('store'), '--build-arg', 'N=2', rig.path('ctx')]);
    assert.is(r.code, 0, r.screen);
    const body = r.raw.slice(r.raw.indexOf('\n') + 1);
    assert.ok(body.includes(SYNC), 'Ink was loaded for the step that runs');
    const beforeInk = strip(body.slice(0, body.indexOf(SYNC)));
    assert.match(beforeInk, /\[1\/5\] FROM scratch/, `the early frame, before Ink, shows the steps:\n${beforeInk}`);
    assert.match(firstFrame(r.raw), /^stratum build · building · 0\/5 steps/m);
    assertNoGhost(r.screen, /^stratum build · ok in .* 0 hits · 3 misses/m);
  } finally {
    rig.cleanup();
  }
});

t.run();
