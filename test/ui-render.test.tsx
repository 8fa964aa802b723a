import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { suite } from './util/rig.js';
import { EventBus, type BuildEvent } from '../engine/events.js';
import { renderTui } from '../cli/ui/render.js';

const t = suite('ui render', { timeoutMs: 20_000 });

const FIXTURES = new URL('../../test/fixtures/events/', import.meta.url);
const fixture = (name: string) => JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), 'utf8')) as BuildEvent[];
const settle = (ms = 100) => new Promise<void>((r) => setTimeout(r, ms));
// eslint-disable-next-line no-control-regex
const SGR = /\u001b\[[0-9;]*m/;
// eslint-disable-next-line no-control-regex
const stripAnsi = (s: string) => s.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');

/** A terminal as far as Ink can tell: a TTY stdout with a size, collecting what is written. */
class FakeStdout extends EventEmitter {
  isTTY = true;
  columns = 100;
  rows = 40;
  written = '';
  write = (chunk: string, cb?: () => void) => {
    this.written += chunk;
    cb?.();
    return true;
  };
}

/** Keys as Ink reads them: `readable`, then `read()`. */
class FakeStdin extends EventEmitter {
  rawMode = false;
  private data: string | null = null;
  constructor(readonly isTTY: boolean) {
    super();
  }
  press(data: string) {
    this.data = data;
    this.emit('readable');
  }
  read = () => {
    const d = this.data;
    this.data = null;
    return d;
  };
  setRawMode = (on: boolean) => {
    this.rawMode = on;
  };
  setEncoding() {}
  resume() {}
  pause() {}
  ref() {}
  unref() {}
}

/** Poll until `check` holds: frames reach a real stdout on Ink's throttled schedule. */
async function eventually(what: string, check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.unreachable(`timed out waiting for ${what}`);
    await settle(5);
  }
}

const asOut = (s: FakeStdout) => s as unknown as NodeJS.WriteStream;
const asIn = (s: FakeStdin) => s as unknown as NodeJS.ReadStream;

t.test('renderTui draws the events on the given stdout, takes keys from stdin, and unmounts', async () => {
  const bus = new EventBus();
  const stdout = new FakeStdout();
  const stdin = new FakeStdin(true);
  const calls: string[] = [];
  const tui = renderTui(bus, {
    stdout: asOut(stdout),
    stdin: asIn(stdin),
    mode: 'watch',
    color: false,
    onQuit: () => calls.push('quit'),
    onRebuild: (force) => calls.push(`rebuild ${force}`),
  });
  let exited = false;
  const exit = tui.waitUntilExit().then(() => {
    exited = true;
  });
  try {
    for (const e of fixture('watch-cycle')) bus.emit(e);
    await eventually('the end of build #2', () => /build #2 ok in 6\.2s/.test(stripAnsi(stdout.written)));
    await eventually('raw mode', () => stdin.rawMode);
    const text = stripAnsi(stdout.written);
    assert.match(text, /MISS\s+\[5\/7\] COPY src\/ \.\/src\/\s+src\/app\.ts changed/);
    assert.match(text, /build #2 ok in 6\.2s · 4 hits · 3 misses · saved 41\.2s/);

    for (const key of ['r', 'f', 'q', '\u0003']) {
      stdin.press(key);
      await settle(20);
    }
    assert.equal(calls, ['rebuild false', 'rebuild true', 'quit', 'quit']);
    assert.is(exited, false, 'q asks the caller to quit; the UI stays until unmount');
  } finally {
    tui.unmount();
  }
  await exit;
  assert.is(exited, true);
  assert.is(stdin.rawMode, false, 'raw mode restored');
  // Unsubscribed: later events neither throw nor draw.
  const before = stdout.written.length;
  bus.emit({ type: 'warning', message: 'late' });
  await settle(50);
  assert.is(stdout.written.length, before);
});

t.test('without a TTY on stdin there are no keys, and no raw-mode crash', async () => {
  const bus = new EventBus();
  const stdout = new FakeStdout();
  const stdin = new FakeStdin(false);
  let quits = 0;
  const tui = renderTui(bus, {
    stdout: asOut(stdout),
    stdin: asIn(stdin),
    mode: 'build',
    color: false,
    onQuit: () => quits++,
    onRebuild: () => {},
  });
  try {
    for (const e of fixture('warm-build')) bus.emit(e);
    await eventually('the summary', () => /stratum build · ok in 0\.2s/.test(stripAnsi(stdout.written)));
    stdin.press('q');
    await settle(20);
    assert.is(quits, 0);
    assert.is(stdin.rawMode, false);
    assert.match(stripAnsi(stdout.written), /stratum build · ok in 0\.2s · 7 hits · 0 misses · saved 47\.6s/);
  } finally {
    tui.unmount();
  }
  await tui.waitUntilExit();
});

t.test('unmount right after build-done writes the final frame before it returns, even after a stalled loop', async () => {
  for (const stall of [0, 250]) {
    const bus = new EventBus();
    const stdout = new FakeStdout();
    const tui = renderTui(bus, {
      stdout: asOut(stdout),
      stdin: asIn(new FakeStdin(false)),
      mode: 'build',
      color: false,
      onQuit: () => {},
      onRebuild: () => {},
    });
    for (const e of fixture('failed-build')) bus.emit(e);
    if (stall > 0) {
      // The store's frame timer and ours come due in the same turn of the loop.
      const due = settle(100);
      const until = Date.now() + stall;
      while (Date.now() < until) {
        /* a busy machine */
      }
      await due;
    }
    tui.unmount();
    stdout.write('printed by the caller\n');
    await tui.waitUntilExit();
    const tail = stripAnsi(stdout.written).trimEnd().split('\n').slice(-3).join('\n');
    assert.match(tail, /stratum build · failed in 4\.2s · 4 hits · 2 misses.*\n+printed by the caller$/, `stall ${stall} ms, last lines:\n${tail}`);
    assert.match(stripAnsi(stdout.written), /✗ FAIL\s+\[6\/7\] RUN npm run build\s+exit code 2/);
  }
});

/**
 * Render the warm build in a fresh process with `env`, through renderTui's default colour
 * choice, and return what it wrote. chalk reads FORCE_COLOR once, at import, so each
 * setting needs its own process.
 */
function renderInChild(env: Record<string, string>): string {
  const renderJs = new URL('../cli/ui/render.js', import.meta.url).href;
  const eventsJs = new URL('../engine/events.js', import.meta.url).href;
  const script = `
    import { EventEmitter } from 'node:events';
    import { readFileSync } from 'node:fs';
    const { renderTui } = await import(${JSON.stringify(renderJs)});
    const { EventBus } = await import(${JSON.stringify(eventsJs)});
    const out = Object.assign(new EventEmitter(), { isTTY: true, columns: 100, rows: 40, written: '' });
    out.write = (s, cb) => { out.written += s; cb?.(); return true; };
    const bus = new EventBus();
    const tui = renderTui(bus, { stdout: out, stdin: Object.assign(new EventEmitter(), { isTTY: false }), mode: 'build', onQuit() {}, onRebuild() {} });
    for (const e of JSON.parse(readFileSync(${JSON.stringify(fileURLToPath(new URL('warm-build.json', FIXTURES)))}, 'utf8'))) bus.emit(e);
    await new Promise((r) => setTimeout(r, 100));
    tui.unmount();
    await tui.waitUntilExit();
    process.stdout.write(JSON.stringify(out.written));
  `;
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !['NO_COLOR', 'FORCE_COLOR', 'CI'].includes(k)) base[k] = v;
  }
  const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...base, ...env },
    encoding: 'utf8',
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
  });
  return JSON.parse(stdout) as string;
}

t.test('colour follows the environment: FORCE_COLOR=1 colours, NO_COLOR and FORCE_COLOR=0 do not', () => {
  const forced = renderInChild({ FORCE_COLOR: '1' });
  assert.match(forced, SGR, 'FORCE_COLOR=1: styled');
  assert.match(stripAnsi(forced), /✓ HIT\s+\[4\/7\] RUN npm ci\s+saved 41\.2s/);

  // chalk 5 ignores NO_COLOR; renderTui must not.
  const noColor = renderInChild({ FORCE_COLOR: '1', NO_COLOR: '1' });
  assert.not.match(noColor, SGR, 'NO_COLOR=1 wins over FORCE_COLOR=1');
  assert.match(noColor, /✓ HIT\s+\[4\/7\] RUN npm ci\s+saved 41\.2s/);

  // chalk does honour FORCE_COLOR=0, which is why the test runner's processes are plain.
  const off = renderInChild({ FORCE_COLOR: '0' });
  assert.not.match(off, SGR, 'FORCE_COLOR=0: plain');
});

t.run();
