/**
 * The early frame (cli/ui/early-frame.ts, painted before Ink is loaded, and the whole UI of a
 * build that ends first) is the Ink UI's frame, line for line, for the same state: at the
 * start, mid-build and at the end of recorded builds, with and without colour.
 */
import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import { render } from 'ink-testing-library';
import { suite } from './util/rig.js';
import { EventBus, type BuildEvent } from '../engine/events.js';
import { App } from '../cli/ui/App.js';
import { createBuildStore } from '../cli/ui/store.js';
import { earlyFrame, paintLine } from '../cli/ui/early-frame.js';
import { startEarlyPainter } from '../cli/reporters/early-painter.js';
import { EventEmitter } from 'node:events';

const t = suite('ui early frame', { timeoutMs: 10_000 });

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../test/fixtures/events/${name}.json`, import.meta.url), 'utf8')) as BuildEvent[];
const nextTurn = () => new Promise<void>((r) => setImmediate(r));
// eslint-disable-next-line no-control-regex
const strip = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '');
const lines = (s: string) => s.split('\n').map((l) => l.replace(/\s+$/, ''));

/** Where the first RUN step starts (a step-start does not say whether it hits; a RUN in these fixtures runs). */
const firstRunStart = (events: BuildEvent[]) => events.findIndex((e) => e.type === 'step-start' && e.instruction.startsWith('RUN '));

/** Ink's frame and the early frame after `events`, both without colour, at Ink's test width. */
async function both(events: BuildEvent[]): Promise<{ ink: string[]; early: string[] }> {
  const bus = new EventBus((err) => {
    throw err;
  });
  const store = createBuildStore(bus, 'build');
  const r = render(<App bus={bus} store={store} mode="build" color={false} onQuit={() => {}} onRebuild={() => {}} />);
  try {
    for (const e of events) bus.emit(e);
    store.flush();
    await nextTurn();
    await nextTurn();
    const ink = lines(r.lastFrame() ?? '');
    const early = earlyFrame(store.getState(), { columns: 100, color: false, elapsed: () => 0 }).map((l) => l.replace(/\s+$/, ''));
    return { ink, early };
  } finally {
    r.unmount();
    store.close();
  }
}

for (const name of ['warm-build', 'cold-build']) {
  t.test(`${name}: the early frame is Ink's frame, line for line`, async () => {
    const events = fixture(name);
    // The start (the plan known, nothing run), the first step that runs (before it prints), the end.
    const firstRun = firstRunStart(events);
    assert.ok(firstRun > 0, 'the fixture has a RUN step');
    const cuts = [2, firstRun + 1, events.length];
    for (const cut of cuts) {
      const { ink, early } = await both(events.slice(0, cut));
      // A running row's spinner and clock tick on their own timers: compare them without those.
      const calm = (xs: string[]) => xs.map((l) => l.replace(/^\S+ RUN /, '⠋ RUN ').replace(/\d+\.\ds$/, 'T'));
      assert.equal(calm(early), calm(ink), `after ${cut} events`);
      assert.ok(early.some((l) => /\[\d+\/\d+\]/.test(l)), 'the frame shows the step rows');
    }
  });
}

t.test('paintLine cuts to the width with an ellipsis, as truncate-end does, and colours by tone', () => {
  const segs = [
    { text: 'stratum build', tone: 'strong' as const },
    { text: ' · ', tone: 'plain' as const },
    { text: 'building', tone: 'info' as const },
  ];
  assert.is(paintLine(segs, 80, false), 'stratum build · building');
  assert.is(paintLine(segs, 18, false), 'stratum build · b…');
  const colored = paintLine(segs, 80, true);
  assert.is(strip(colored), 'stratum build · building');
  assert.match(colored, /\u001b\[1mstratum build\u001b\[22m · \u001b\[36mbuilding\u001b\[39m/);
});

t.test('the frame keeps to the terminal height: the header and the running row stay', () => {
  const bus = new EventBus();
  const store = createBuildStore(bus, 'build');
  const events = fixture('cold-build');
  const firstRun = firstRunStart(events);
  assert.ok(firstRun > 0, 'the fixture has a RUN step');
  for (const e of events.slice(0, firstRun + 1)) bus.emit(e);
  store.flush();
  const frame = earlyFrame(store.getState(), { columns: 100, rows: 5, color: false, elapsed: () => 0 });
  assert.ok(frame.length <= 4, `fits 5 rows with the cursor line: ${frame.length}`);
  assert.match(frame.join('\n'), /^stratum build · building/m);
  store.close();
});

t.test('a resize to a narrower terminal erases every row the reflowed frame takes: no ghost lines', () => {
  const bus = new EventBus((err) => {
    throw err;
  });
  const store = createBuildStore(bus, 'build');
  const out = Object.assign(new EventEmitter(), { columns: 100, rows: 40, isTTY: true, writes: [] as string[] });
  (out as unknown as { write(s: string): boolean }).write = (s: string) => (out.writes.push(s), true);
  const painter = startEarlyPainter(store, out as unknown as NodeJS.WriteStream, false);
  try {
    const events = fixture('cold-build');
    for (const e of events.slice(0, firstRunStart(events) + 1)) bus.emit(e);
    store.flush();
    const frame = out.writes.at(-1)!;
    const painted = frame.split('\n').slice(0, -1).map((l) => [...l.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '')].length);
    assert.ok(painted.some((w) => w > 50), 'some painted line is wider than the new width');
    // What a reflowing terminal (tmux, xterm, iTerm) now shows: each line wider than 50 wraps.
    const rowsNow = painted.reduce((n, w) => n + Math.max(1, Math.ceil(w / 50)), 0);
    out.writes.length = 0;
    out.columns = 50;
    out.emit('resize');
    const erase = out.writes[0]!;
    assert.is(erase.split('\u001b[1A').length - 1, rowsNow, 'one cursor-up per screen row of the reflowed frame');
    const repaint = out.writes.at(-1)!;
    for (const l of repaint.split('\n').slice(0, -1)) assert.ok([...strip(l)].length <= 50, `repainted to 50 columns: ${l}`);
  } finally {
    painter.handOver();
    store.close();
  }
});

t.run();
