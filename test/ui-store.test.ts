import * as assert from 'uvu/assert';
import { suite } from './util/rig.js';
import { EventBus, type BuildEvent, type StepInfo } from '../engine/events.js';
import { createBuildStore } from '../cli/ui/store.js';

const t = suite('ui store', { timeoutMs: 10_000 });

const S1: StepInfo = { index: 1, total: 1, stage: '0', stageIndex: 1, stageTotal: 1, instruction: 'RUN make', line: 1 };
const start: BuildEvent = { type: 'build-start', build: 1, target: '0', steps: [S1], time: 0 };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

t.test('sees events from the moment it is created, before anyone subscribes to it', () => {
  const bus = new EventBus();
  const store = createBuildStore(bus, 'build');
  bus.emit(start);
  store.flush();
  assert.is(store.getState().build, 1);
  store.close();
});

t.test('tells its listeners at once after a quiet spell, then at most once per frame', async () => {
  const bus = new EventBus();
  const store = createBuildStore(bus, 'build', { maxFps: 20 });
  let calls = 0;
  store.subscribe(() => calls++);
  bus.emit(start);
  assert.is(calls, 1, 'the first event is not delayed');
  bus.emit({ type: 'step-start', ...S1, time: 0 });
  for (let i = 0; i < 10_000; i++) bus.emit({ type: 'step-log', index: 1, stream: 'stdout', line: `line ${i}` });
  assert.is(calls, 1, 'the burst waits for the frame');
  const before = store.getState();
  await sleep(120);
  assert.is(calls, 2, 'one notification for the whole burst');
  assert.is.not(store.getState(), before);
  assert.is(store.getState().logs[1]?.at(-1), 'line 9999');
  const same = store.getState();
  assert.is(store.getState(), same, 'a stable snapshot while nothing changes');
  store.close();
});

t.test('flush folds the queued events now; close stops listening', async () => {
  const bus = new EventBus();
  const store = createBuildStore(bus, 'watch');
  let calls = 0;
  store.subscribe(() => calls++);
  bus.emit({ type: 'watch-state', state: 'building' });
  bus.emit(start);
  bus.emit({ type: 'build-done', build: 1, ok: true, hits: 1, misses: 0, ms: 5, savedMs: 0 });
  assert.is(store.getState().phase, 'building');
  store.flush();
  assert.is(store.getState().phase, 'watching');
  assert.is(calls, 2);
  store.close();
  bus.emit({ type: 'watch-state', state: 'debouncing' });
  await sleep(60);
  store.flush();
  assert.is(store.getState().phase, 'watching', 'closed: later events are ignored');
  assert.is(calls, 2);
});

t.run();
