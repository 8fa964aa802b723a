import * as assert from 'uvu/assert';
import { suite } from './util/rig.js';
import {
  cleanLogLine,
  colorEnabled,
  count,
  fit,
  formatDuration,
  formatFiles,
  formatSize,
  isMultiStage,
  stageTag,
  truncate,
} from '../cli/ui/format.js';

const t = suite('ui format');

t.test('formats durations as 0.4s, 12.3s, 1m02s, 1h05m', () => {
  const cases: [number, string][] = [
    [0, '0.0s'],
    [2, '0.0s'],
    [49, '0.0s'],
    [50, '0.1s'],
    [400, '0.4s'],
    [12_340, '12.3s'],
    [59_940, '59.9s'],
    [59_960, '1m00s'], // rounds to 60.0s: shown as a minute, never `60.0s`
    [62_000, '1m02s'],
    [61 * 60_000 + 29_000, '1h01m'],
    [3_600_000 * 3 + 5 * 60_000, '3h05m'],
    [-5, '0.0s'],
    [Number.NaN, '0.0s'],
  ];
  for (const [ms, want] of cases) assert.is(formatDuration(ms), want, `formatDuration(${ms})`);
});

t.test('formats sizes in decimal units, one decimal below 100', () => {
  const cases: [number, string][] = [
    [0, '0 B'],
    [999, '999 B'],
    [1000, '1.0 kB'],
    [1234, '1.2 kB'],
    [48_213, '48.2 kB'],
    [182_431_007, '182 MB'],
    [999_960, '1.0 MB'], // 999.96 kB carries into the next unit
    [48_312_775, '48.3 MB'],
    [1.5e12, '1.5 TB'],
    [-1, '0 B'],
  ];
  for (const [bytes, want] of cases) assert.is(formatSize(bytes), want, `formatSize(${bytes})`);
});

t.test('truncates to a width with an ellipsis, and fits to an exact width', () => {
  const cases: [string, number, string][] = [
    ['RUN npm ci', 20, 'RUN npm ci'],
    ['RUN npm ci', 10, 'RUN npm ci'],
    ['RUN npm ci', 9, 'RUN npm …'],
    ['RUN npm ci', 1, '…'],
    ['RUN npm ci', 0, ''],
    ['RUN npm ci', -3, ''],
    ['héllo wörld', 6, 'héllo…'],
  ];
  for (const [text, width, want] of cases) assert.is(truncate(text, width), want, `truncate(${text}, ${width})`);
  assert.is(fit('abc', 5), 'abc  ');
  assert.is(fit('abcdef', 4), 'abc…');
  assert.is(fit('', 0), '');
});

t.test('cleans log lines: escapes, carriage-return progress, tabs, control characters', () => {
  const cases: [string, string][] = [
    ['plain line', 'plain line'],
    ['\u001b[32mgreen\u001b[0m and \u001b[1;31mbold red\u001b[m', 'green and bold red'],
    ['\u001b]8;;https://x.y\u0007link\u001b]8;;\u0007', 'link'],
    ['\u001b]0;title\u001b\\after', 'after'],
    ['progress 10%\rprogress 50%\rprogress 100%', 'progress 100%'],
    ['done\r', 'done'],
    ['a\tb', 'a       b'],
    ['abcdefgh\tx', 'abcdefgh        x'],
    ['bell\u0007 and nul\u0000', 'bell and nul'],
    ['trailing   ', 'trailing'],
    ['', ''],
  ];
  for (const [raw, want] of cases) assert.is(cleanLogLine(raw), want, JSON.stringify(raw));
});

t.test('tags rows [i/n] for one unnamed stage, with the stage name otherwise', () => {
  const one = [{ stage: '0' }, { stage: '0' }];
  const two = [{ stage: 'builder' }, { stage: '1' }];
  assert.is(isMultiStage(one), false);
  assert.is(isMultiStage(two), true);
  assert.is(isMultiStage([]), false);
  assert.is(stageTag({ stage: '0', stageIndex: 3, stageTotal: 7 }, false), '[3/7]');
  assert.is(stageTag({ stage: '1', stageIndex: 2, stageTotal: 4 }, true), '[stage-1 2/4]');
  assert.is(stageTag({ stage: 'builder', stageIndex: 2, stageTotal: 5 }, true), '[builder 2/5]');
  assert.is(stageTag({ stage: 'app', stageIndex: 1, stageTotal: 3 }, false), '[app 1/3]');
});

t.test('counts and file lists read as English', () => {
  assert.is(count(1, 'hit', 'hits'), '1 hit');
  assert.is(count(0, 'miss', 'misses'), '0 misses');
  assert.is(count(2, 'miss', 'misses'), '2 misses');
  assert.is(formatFiles(['src/app.ts']), 'src/app.ts');
  assert.is(formatFiles(['a', 'b', 'c', 'd', 'e']), 'a, b, c +2 more');
  assert.is(formatFiles([]), '(no files)');
});

t.test('NO_COLOR with any non-empty value turns colour off; empty or absent leaves it on', () => {
  assert.is(colorEnabled({}), true);
  assert.is(colorEnabled({ NO_COLOR: '' }), true);
  assert.is(colorEnabled({ NO_COLOR: '1' }), false);
  assert.is(colorEnabled({ NO_COLOR: '0' }), false); // no-color.org: presence, not value
  assert.is(colorEnabled({ FORCE_COLOR: '0' }), true); // that one is chalk's business
});

t.run();
