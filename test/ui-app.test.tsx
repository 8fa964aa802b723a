import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { render } from 'ink-testing-library';
import chalk from 'chalk';
import { suite } from './util/rig.js';
import { EventBus, type BuildEvent } from '../engine/events.js';
import { App, foldLeadingHits } from '../cli/ui/App.js';
import { createBuildStore } from '../cli/ui/store.js';
import type { Mode, StepRowState } from '../cli/ui/state.js';

const t = suite('ui app', { timeoutMs: 10_000 });

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../test/fixtures/events/${name}.json`, import.meta.url), 'utf8')) as BuildEvent[];
/** A real delay, for tests about time (throttling, a stalled loop). */
const settle = (ms = 80) => new Promise<void>((r) => setTimeout(r, ms));
const nextTurn = () => new Promise<void>((r) => setImmediate(r));
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[/;
const occurrences = (text: string, needle: string) => text.split(needle).length - 1;

interface Mounted {
  bus: EventBus;
  /** Emit events, fold them at once and wait for the frame: no timing guesses. */
  emit(...events: BuildEvent[]): Promise<void>;
  frame(): string;
  frames: string[];
  /** Wait until the last frame matches (a key's effect is one React render away). */
  waitFor(re: RegExp, ms?: number): Promise<string>;
  key(data: string): Promise<void>;
  stdout: ReturnType<typeof render>['stdout'];
  quits: number;
  rebuilds: boolean[];
  unmount(): void;
}

/**
 * Mount the App on a fresh bus. By default the test owns the store, so `emit` can flush it and
 * frames do not depend on the 30 fps timer; `ownStore` leaves the hook its own store, for the
 * tests about that timer.
 */
function mount(mode: Mode, opts: { color?: boolean; ownStore?: boolean } = {}): Mounted {
  const bus = new EventBus((err) => {
    throw err;
  });
  const store = opts.ownStore ? undefined : createBuildStore(bus, mode);
  const m = {
    bus,
    quits: 0,
    rebuilds: [] as boolean[],
  } as Mounted;
  const r = render(
    <App
      bus={bus}
      {...(store ? { store } : {})}
      mode={mode}
      {...(opts.color !== undefined ? { color: opts.color } : {})}
      onQuit={() => {
        m.quits++;
      }}
      onRebuild={(force) => {
        m.rebuilds.push(force);
      }}
    />,
  );
  m.emit = async (...events) => {
    for (const e of events) bus.emit(e);
    store?.flush();
    await nextTurn();
    await nextTurn();
  };
  m.frame = () => r.lastFrame() ?? '';
  m.frames = r.frames;
  m.stdout = r.stdout;
  m.waitFor = async (re, ms = 3000) => {
    const end = Date.now() + ms;
    while (!re.test(m.frame())) {
      if (Date.now() > end) assert.unreachable(`no frame matched ${re} in ${ms} ms; last frame:\n${m.frame()}`);
      await settle(5);
    }
    return m.frame();
  };
  m.key = async (data) => {
    r.stdin.write(data);
    await nextTurn();
  };
  m.unmount = () => {
    r.unmount();
    store?.close();
  };
  return m;
}

/** Emit a recording up to (not including) the first event matching `stop`; return the rest. */
async function replay(m: Mounted, events: BuildEvent[], stop?: (e: BuildEvent) => boolean): Promise<BuildEvent[]> {
  const at = stop ? events.findIndex(stop) : -1;
  const upTo = at >= 0 ? at : events.length;
  await m.emit(...events.slice(0, upTo));
  return events.slice(upTo);
}

/** The frame's row for `[i/n]`, so assertions name one row. */
function row(frame: string, tag: string): string {
  const line = frame.split('\n').find((l) => l.includes(`${tag} `));
  assert.ok(line, `no row ${tag} in:\n${frame}`);
  return line;
}

t.test('cold build: MISS rows with their reason, size and time; header totals', async () => {
  const m = mount('build');
  try {
    await replay(m, fixture('cold-build'));
    const f = m.frame();
    assert.match(row(f, '[1/7]'), /✓ HIT\s+\[1\/7\] FROM node:20-alpine/);
    assert.match(row(f, '[3/7]'), /MISS\s+\[3\/7\] COPY package\.json package-lock\.json \.\/\s+no cache for this step\s+48\.2 kB\s+0\.0s/);
    assert.match(row(f, '[4/7]'), /MISS\s+\[4\/7\] RUN npm ci\s+no cache for this step\s+48\.3 MB\s+41\.2s/);
    assert.match(row(f, '[6/7]'), /MISS\s+\[6\/7\] RUN npm run build\s+no cache for this step\s+1\.2 MB\s+6\.3s/);
    assert.match(row(f, '[7/7]'), /MISS\s+\[7\/7\] CMD \["node", "dist\/main\.js"\]\s+no cache for this step\s+0\.0s/);
    assert.match(f, /stratum build · ok in 47\.6s · 1 hit · 6 misses · store 182 MB/);
    assert.not.match(f, /saved/, 'nothing was saved on a cold build');
    assert.not.match(f, /build #/, 'one build: no number');
    // Finished rows go to <Static>: each printed once, never repeated by later frames.
    for (let i = 1; i <= 7; i++) assert.is(occurrences(f, `[${i}/7] `), 1, `row ${i} once`);
    assert.not.match(f, /q quit/, 'the last frame of a one-shot build is a summary, not dead keys');
  } finally {
    m.unmount();
  }
});

t.test('a running row counts from when its step-start arrived, not from when Ink mounted', async () => {
  // The early painter draws the first frames from the store; Ink mounts later on the same
  // store. Its running clock must go on from the step's start, not restart at 0.0s.
  const bus = new EventBus((err) => {
    throw err;
  });
  const store = createBuildStore(bus, 'build');
  const events = fixture('cold-build');
  const at = events.findIndex((e) => e.type === 'step-start' && e.index === 4);
  for (const e of events.slice(0, at + 1)) bus.emit(e);
  store.flush();
  await settle(1200);
  const r = render(<App bus={bus} store={store} mode="build" onQuit={() => undefined} onRebuild={() => undefined} />);
  try {
    await nextTurn();
    await nextTurn();
    assert.match(row(r.lastFrame() ?? '', '[4/7]'), /RUN npm ci.*\b1\.\ds/, 'the clock went on from the start event');
  } finally {
    r.unmount();
    store.close();
  }
});

t.test('the log panel shows the running step’s last lines under its RUN row', async () => {
  const m = mount('build');
  try {
    const rest = await replay(m, fixture('cold-build'), (e) => e.type === 'step-done' && e.index === 4);
    const f = m.frame();
    assert.match(row(f, '[4/7]'), /RUN\s+\[4\/7\] RUN npm ci/);
    assert.match(f, /output of \[4\/7\] RUN npm ci/);
    assert.match(f, /│ found 0 vulnerabilities/);
    assert.match(f, /│ npm notice To update run: npm install -g npm@10\.9\.0/);
    assert.not.match(f, /inflight@1\.0\.6/, 'only the last 8 lines');
    assert.match(row(f, '[5/7]'), /·\s+\[5\/7\] COPY src\/ \.\/src\//, 'pending rows below the running one');
    assert.match(f, /stratum build · building · 3\/7 steps · 1 hit · 2 misses/);
    assert.match(f, /q quit/);
    assert.not.match(f, /r rebuild/, 'no rebuild key in a one-shot build');
    // When the step finishes, its panel goes away.
    await m.emit(...rest.slice(0, 1));
    assert.not.match(m.frame(), /output of/);
  } finally {
    m.unmount();
  }
});

t.test('warm build: every row a HIT, time saved per row and in the header', async () => {
  const m = mount('build');
  try {
    await replay(m, fixture('warm-build'));
    const f = m.frame();
    for (let i = 1; i <= 7; i++) assert.match(row(f, `[${i}/7]`), /✓ HIT /);
    assert.not.match(f, /MISS/);
    assert.match(row(f, '[4/7]'), /RUN npm ci\s+saved 41\.2s\s+48\.3 MB\s+0\.0s/);
    assert.match(row(f, '[6/7]'), /saved 6\.3s/);
    assert.match(f, /stratum build · ok in 0\.2s · 7 hits · 0 misses · saved 47\.6s · store 182 MB/);
  } finally {
    m.unmount();
  }
});

t.test('failure: FAIL row, message, hint and log tail; l toggles the full log', async () => {
  const m = mount('watch');
  try {
    await replay(m, fixture('failed-build'));
    let f = m.frame();
    assert.match(row(f, '[5/7]'), /MISS\s+\[5\/7\] COPY src\/ \.\/src\/\s+src\/app\.ts changed/);
    assert.match(row(f, '[6/7]'), /✗ FAIL\s+\[6\/7\] RUN npm run build\s+exit code 2\s+4\.2s/);
    assert.match(f, /✗ \[6\/7\] RUN npm run build failed after 4\.2s/);
    assert.match(f, /RUN npm run build exited with code 2/);
    assert.match(f, /hint: fix the command or its inputs/);
    assert.match(f, /last 10 lines of output:/);
    assert.match(f, /│ {6}1 {2}src\/app\.ts:3/);
    assert.not.match(f, /handler01\.ts\(11,6\)/, 'the early lines wait for l');
    assert.match(f, /press l for the full log \(38 lines\)/);
    assert.match(f, /build #1 failed in 4\.2s · 4 hits · 2 misses · saved 41\.2s/);
    assert.match(f, /q quit · r rebuild · f rebuild without cache · l full log/);

    await m.key('l');
    f = await m.waitFor(/full log, 38 lines:/);
    assert.match(f, /│ > app@1\.0\.0 build/);
    assert.match(f, /│ src\/routes\/handler01\.ts\(11,6\): error TS2345/);
    assert.match(f, /│ Found 15 errors in 15 files\./);
    assert.match(f, /l hide the full log/);

    await m.key('l');
    assert.not.match(await m.waitFor(/press l for the full log/), /handler01\.ts\(11,6\)/);
  } finally {
    m.unmount();
  }
});

t.test('a failed one-shot build ends on the failure and its summary', async () => {
  const m = mount('build');
  try {
    await replay(m, fixture('failed-build'));
    const f = m.frame();
    assert.match(row(f, '[6/7]'), /✗ FAIL\s+\[6\/7\] RUN npm run build\s+exit code 2/);
    assert.match(f, /✗ \[6\/7\] RUN npm run build failed after 4\.2s\n {2}RUN npm run build exited with code 2\n {2}hint: /);
    assert.match(f, /│ {6}1 {2}src\/app\.ts:3/);
    assert.not.match(f, /\[7\/7\]/, 'the step that never ran is not listed');
    assert.match(f, /stratum build · failed in 4\.2s · 4 hits · 2 misses · saved 41\.2s · store 182 MB/);
    assert.not.match(f, /press l|q quit/);
  } finally {
    m.unmount();
  }
});

t.test('watch cycle: the change, the last totals while building, then HITs and MISSes with reasons', async () => {
  const m = mount('watch');
  try {
    const events = fixture('watch-cycle');
    // Stop inside build #2, after its unchanged prefix hit.
    const rest = await replay(m, events, (e) => e.type === 'step-start' && e.index === 5 && seenBuild2(events, e));
    let f = m.frame();
    assert.match(f, /stratum watch · build #2 · building · 4\/7 steps · 4 hits · 0 misses/);
    assert.match(f, /last build #1 ok in 0\.2s · 7 hits · 0 misses · saved 47\.6s · store 182 MB/);
    assert.match(f, /changed src\/app\.ts → rebuilding from step 5/);
    assert.match(row(f, '[4/7]'), /✓ HIT\s+\[4\/7\] RUN npm ci\s+saved 41\.2s/);
    assert.match(row(f, '[5/7]'), /·\s+\[5\/7\]/);

    await m.emit(...rest);
    f = m.frame();
    for (let i = 1; i <= 4; i++) assert.match(row(f, `[${i}/7]`), /✓ HIT /);
    assert.match(row(f, '[5/7]'), /MISS\s+\[5\/7\] COPY src\/ \.\/src\/\s+src\/app\.ts changed\s+18\.4 kB\s+0\.0s/);
    assert.match(row(f, '[6/7]'), /MISS\s+\[6\/7\] RUN npm run build\s+parent layer changed\s+1\.2 MB\s+6\.1s/);
    assert.match(row(f, '[7/7]'), /MISS\s+\[7\/7\] CMD .*parent layer changed/);
    assert.match(f, /stratum watch · build #2 · watching for changes/);
    assert.match(f, /last change: src\/app\.ts \(rebuilt from step 5\)/);
    assert.match(f, /build #2 ok in 6\.2s · 4 hits · 3 misses · saved 41\.2s · store 182 MB/);
    // The table is redrawn per build: build #1's rows are gone, not appended above.
    for (let i = 1; i <= 7; i++) assert.is(occurrences(f, `[${i}/7] `), 1, `row ${i} once`);
    assert.match(f, /q quit · r rebuild · f rebuild without cache/);
    await m.emit({ type: 'watch-state', state: 'stopped' });
    assert.match(m.frame(), /stratum watch · build #2 · stopped/);
    assert.not.match(m.frame(), /q quit/, 'a stopped session shows no keys');
  } finally {
    m.unmount();
  }
});

/** True once `e` comes after build #2's build-start in `events`. */
function seenBuild2(events: BuildEvent[], e: BuildEvent): boolean {
  const b2 = events.findIndex((x) => x.type === 'build-start' && x.build === 2);
  return events.indexOf(e) > b2;
}

t.test('watch: a failed build shows its failure until the next build starts', async () => {
  const m = mount('watch');
  try {
    await replay(m, fixture('failed-build'));
    await m.emit({ type: 'watch-state', state: 'watching' });
    let f = m.frame();
    assert.match(f, /build #1 · failed, waiting for a change/);
    assert.match(f, /failed after 4\.2s/);
    assert.match(row(f, '[7/7]'), /·\s+\[7\/7\]/, 'the step that never ran stays pending');

    await m.key('l');
    await m.waitFor(/full log, 38 lines/);

    const warm = fixture('warm-build').map((e) => (e.type === 'build-start' || e.type === 'build-done' ? { ...e, build: 2 } : e));
    m.bus.emit({ type: 'watch-change', files: ['src/app.ts'], fromStep: 5 });
    await replay(m, warm);
    f = m.frame();
    assert.not.match(f, /failed after/);
    assert.not.match(f, /l full log|l hide/);
    assert.match(f, /build #2 · watching for changes/);
    assert.match(f, /build #2 ok in 0\.2s · 7 hits/);
  } finally {
    m.unmount();
  }
});

t.test('keys: q and Ctrl-C quit, r rebuilds, f rebuilds without cache', async () => {
  const m = mount('watch');
  try {
    await replay(m, fixture('watch-cycle'));
    await m.key('r');
    await m.key('f');
    assert.equal(m.rebuilds, [false, true]);
    assert.is(m.quits, 0);
    await m.key('q');
    assert.is(m.quits, 1);
    await m.key('\u0003');
    assert.is(m.quits, 2, 'Ctrl-C behaves like q');
    await m.key('x');
    assert.is(m.quits, 2);
    assert.equal(m.rebuilds, [false, true]);
  } finally {
    m.unmount();
  }
});

t.test('a key right after a stalled event loop acts on the latest state', async () => {
  const m = mount('watch', { ownStore: true });
  try {
    for (const e of fixture('failed-build')) m.bus.emit(e);
    // The hook's frame timer and the test's come due in the same turn of the loop: the key
    // arrives right after the frame that shows the failure.
    const due = settle(60);
    const until = Date.now() + 200;
    while (Date.now() < until) {
      /* a busy machine */
    }
    await due;
    await m.key('l');
    await m.waitFor(/full log, 38 lines/);
  } finally {
    m.unmount();
  }
});

t.test('keys: r and f do nothing in a one-shot build; l without a failure does nothing', async () => {
  const m = mount('build');
  try {
    await replay(m, fixture('cold-build'));
    const before = m.frame();
    await m.key('r');
    await m.key('f');
    await m.key('l');
    assert.equal(m.rebuilds, []);
    assert.is(m.frame(), before);
    await m.key('q');
    assert.is(m.quits, 1);
  } finally {
    m.unmount();
  }
});

t.test('colours when allowed; NO_COLOR output has no ANSI escapes', async () => {
  // The test runner sets FORCE_COLOR=0, so chalk (which Ink's <Text> goes through) is at
  // level 0 and would hide a regression. Force it on to see that `color={false}` alone
  // keeps escapes out.
  const level = chalk.level;
  chalk.level = 1;
  try {
    for (const [name, mode] of [
      ['failed-build', 'build'],
      ['watch-cycle', 'watch'],
    ] as const) {
      const coloured = mount(mode, { color: true });
      const plain = mount(mode, { color: false });
      try {
        await replay(coloured, fixture(name));
        await replay(plain, fixture(name));
        assert.match(coloured.frame(), ANSI, `${name}: colour on shows escapes`);
        assert.match(coloured.frame(), /\u001b\[3[1-3]m/, `${name}: green, red or yellow in use`);
        assert.not.match(coloured.frame(), /\u001b\[3[07]m|\u001b\[9[07]m|\u001b\[4[07]m/, 'never black, white or gray');
        for (const frame of plain.frames) assert.not.match(frame, ANSI, `${name}: NO_COLOR frames are plain`);
        assert.is(plain.frame(), coloured.frame().replace(/\u001b\[[0-9;]*m/g, ''), 'same text either way');
      } finally {
        coloured.unmount();
        plain.unmount();
      }
    }
  } finally {
    chalk.level = level;
  }
});

t.test('a RUN printing thousands of lines renders a few frames, not one per line', async () => {
  const m = mount('build', { ownStore: true });
  try {
    for (const e of fixture('cold-build').slice(0, 12)) m.bus.emit(e);
    await m.waitFor(/RUN\s+\[4\/7\] RUN npm ci/);
    await settle(50); // past the frame, so the flood starts on a quiet spell
    const before = m.frames.length;
    const started = Date.now();
    for (let i = 0; i < 5000; i++) m.bus.emit({ type: 'step-log', index: 4, stream: 'stdout', line: `fetch package ${i}` });
    await m.waitFor(/│ fetch package 4999/);
    const rendered = m.frames.length - before;
    // One leading and one trailing frame for the flood, and the spinner's 10 fps meanwhile.
    const spinner = Math.ceil((Date.now() - started) / 100);
    assert.ok(rendered <= 2 + spinner + 1, `5000 lines made ${rendered} frames in ${Date.now() - started} ms`);
    assert.match(m.frame(), /│ fetch package 4992/);
    assert.not.match(m.frame(), /│ fetch package 4991\n/);
  } finally {
    m.unmount();
  }
});

t.test('long instructions are cut to the terminal width, and follow a resize', async () => {
  const m = mount('watch');
  try {
    const long = `RUN apt-get update && apt-get install -y ${'build-essential '.repeat(10)}`.trim();
    const steps = [{ index: 1, total: 1, stage: '0', stageIndex: 1, stageTotal: 1, instruction: long, line: 1 }];
    await m.emit(
      { type: 'build-start', build: 1, target: '0', steps, time: 0 },
      { type: 'step-done', ...steps[0]!, cached: false, layer: 'x', size: 1_000_000, ms: 61_000, reason: 'no cache for this step' },
    );
    const width = (f: string) => Math.max(...f.split('\n').map((l) => [...l].length));
    let f = m.frame();
    assert.ok(width(f) <= 100, `fits 100 columns:\n${f}`);
    assert.match(row(f, '[1/1]'), /RUN apt-get update && apt-get install -…\s+no cache for this step\s+1\.0 MB\s+1m01s/);

    Object.defineProperty(m.stdout, 'columns', { value: 60, configurable: true });
    m.stdout.emit('resize');
    f = await m.waitFor(/RUN apt-get…/);
    assert.ok(width(f) <= 60, `fits 60 columns after a resize:\n${f}`);
    assert.match(row(f, '[1/1]'), /RUN apt-get.*…/);
    assert.match(row(f, '[1/1]'), /1m01s$/);
  } finally {
    m.unmount();
  }
});

t.test('cancelled steps show CANCELLED, and rows stay aligned', async () => {
  const m = mount('watch');
  try {
    const events = fixture('watch-cycle');
    const rest = await replay(m, events, (e) => e.type === 'step-done' && e.index === 6 && seenBuild2(events, e));
    assert.match(row(m.frame(), '[6/7]'), /RUN\s+\[6\/7\] RUN npm run build/);
    const six = rest[0] as Extract<BuildEvent, { type: 'step-done' }>;
    const { cached: _c, layer: _l, size: _s, reason: _r, why: _w, savedMs: _v, ...info } = six;
    await m.emit(
      { type: 'watch-state', state: 'cancelling' },
      { ...info, type: 'step-cancelled', ms: 2300 },
      { type: 'build-done', build: 2, ok: false, cancelled: true, hits: 4, misses: 1, ms: 2400, savedMs: 41_246 },
    );
    const f = m.frame();
    assert.match(row(f, '[6/7]'), /⊘ CANCELLED \[6\/7\] RUN npm run build\s+2\.3s/);
    assert.match(row(f, '[1/7]'), /✓ HIT {7}\[1\/7\]/, 'labels padded to CANCELLED');
    assert.match(f, /build #2 cancelled in 2\.4s/);
  } finally {
    m.unmount();
  }
});

t.test('a Dockerfile error shows file:line:col, the line underlined and the hint (as build prints it)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stratum-ui-'));
  const file = join(dir, 'Dockerfile');
  writeFileSync(file, 'FROM scratch\nRUUN make\n');
  const m = mount('watch');
  try {
    await m.emit({ type: 'watch-state', state: 'building' });
    await m.emit({ type: 'build-start', build: 1, target: '0', steps: [], time: Date.now() });
    await m.emit({ type: 'build-done', build: 1, ok: false, hits: 0, misses: 0, ms: 3, savedMs: 0, error: { message: 'unknown instruction "RUUN"', hint: 'did you mean RUN?', code: 'DF_UNKNOWN_INSTRUCTION', file, line: 2, column: 1, length: 4 } });
    const f = m.frame();
    assert.match(f, /Dockerfile:2:1: unknown instruction "RUUN"/);
    assert.match(f, /2 \| RUUN make\n\s*\| \^\^\^\^/);
    assert.match(f, /hint: did you mean RUN\?/);
  } finally {
    m.unmount();
    rmSync(dir, { recursive: true, force: true });
  }
});

t.test('warnings and an error outside any step show under the header', async () => {
  const m = mount('build');
  try {
    const events = fixture('warm-build');
    await m.emit({ type: 'warning', message: 'MAINTAINER is deprecated', file: 'Dockerfile', line: 2 });
    await replay(m, events.slice(0, -1));
    await m.emit({ type: 'build-done', build: 1, ok: false, hits: 7, misses: 0, ms: 190, savedMs: 47_565, error: { message: 'cannot write ./out: permission denied', hint: 'check the output directory' } });
    const f = m.frame();
    assert.match(f, /! MAINTAINER is deprecated \(Dockerfile:2\)/);
    assert.match(f, /stratum build · failed in 0\.2s · 7 hits/);
    // As `stratum build` prints it (engine/errors.ts formatError): the message, then the hint.
    assert.match(f, /cannot write \.\/out: permission denied\n\s*hint: check the output directory/);
  } finally {
    m.unmount();
  }
});

t.test('a table taller than the terminal folds its leading hits into one line', () => {
  const rows = (statuses: StepRowState['status'][]) =>
    statuses.map((status, i) => ({ index: i + 1, total: statuses.length, stage: '0', stageIndex: i + 1, stageTotal: statuses.length, instruction: `RUN ${i}`, line: i + 1, status }));
  const steps = rows(['hit', 'hit', 'hit', 'hit', 'hit', 'running', 'pending', 'pending']);
  assert.equal(foldLeadingHits(steps, 20), { folded: 0, rows: steps });
  const folded = foldLeadingHits(steps, 5);
  assert.is(folded.folded, 4);
  assert.equal(folded.rows.map((r) => r.index), [5, 6, 7, 8], 'the folded line plus 4 rows fit 5');
  assert.is(foldLeadingHits(steps, 1).folded, 5, 'never folds past the hits');
  assert.is(foldLeadingHits(rows(['done', 'hit', 'hit']), 1).folded, 0, 'only a leading run of hits');
});

t.run();
