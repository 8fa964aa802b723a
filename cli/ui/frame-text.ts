/**
 * The text of the UI's rows and header, without Ink or React: the components render it, and
 * so does the early frame (early-frame.ts) that is painted before Ink is loaded. One source,
 * so the two cannot drift apart.
 */
import { unreachable } from '../../engine/events.js';
import type { BuildTotals, Phase, StepRowState, StepStatus, UiState } from './state.js';
import { count, fit, formatDuration, formatSize, stageTag, textWidth } from './format.js';

/** Colours by meaning (theme.ts maps them to Ink's props, early-frame.ts to ANSI). */
export type Tone = 'ok' | 'bad' | 'warn' | 'info' | 'dim' | 'strong' | 'plain';

/**
 * Column widths of the step table, shared by every row so they line up:
 *
 *   ✓ HIT  [3/7] COPY package.json package-lock.json ./  saved 41.2s        1.2 kB   0.0s
 *   sym label stage instruction                         why                  size    time
 *
 * The instruction takes what the terminal leaves; `why` gets about a quarter of it.
 */
export interface RowLayout {
  labelWidth: number;
  stageWidth: number;
  instructionWidth: number;
  whyWidth: number;
}

export const SIZE_WIDTH = 7; // `48.3 MB`
export const TIME_WIDTH = 6; // `1m02s`, `12.3s`
const MIN_INSTRUCTION = 12;

/** Compute the table's columns for a terminal `columns` wide. */
export function rowLayout(columns: number, steps: readonly StepRowState[], multiStage: boolean): RowLayout {
  const labelWidth = steps.some((s) => s.status === 'cancelled') ? 'CANCELLED'.length : 4;
  const stageWidth = Math.max(0, ...steps.map((s) => textWidth(stageTag(s, multiStage))));
  // sym + sp + label + sp + stage + sp + instruction + 2 + why + 2 + size + sp + time, and
  // one spare column: writing the last one makes some terminals wrap.
  const fixed = 2 + labelWidth + 1 + stageWidth + 1 + 2 + 2 + SIZE_WIDTH + 1 + TIME_WIDTH + 1;
  let whyWidth = Math.min(36, Math.floor(columns * 0.28));
  let instructionWidth = columns - fixed - whyWidth;
  if (instructionWidth < MIN_INSTRUCTION) {
    whyWidth = Math.max(0, whyWidth - (MIN_INSTRUCTION - instructionWidth));
    instructionWidth = Math.max(MIN_INSTRUCTION, columns - fixed - whyWidth);
  }
  return { labelWidth, stageWidth, instructionWidth, whyWidth };
}

export const LOOK: Record<StepStatus, { symbol: string; label: string; tone: Tone }> = {
  pending: { symbol: '·', label: '', tone: 'dim' },
  running: { symbol: '', label: 'RUN', tone: 'info' },
  hit: { symbol: '✓', label: 'HIT', tone: 'ok' },
  done: { symbol: '✓', label: 'MISS', tone: 'warn' },
  meta: { symbol: '✓', label: '', tone: 'dim' },
  failed: { symbol: '✗', label: 'FAIL', tone: 'bad' },
  cancelled: { symbol: '⊘', label: 'CANCELLED', tone: 'warn' },
};

/** The label a status shows (`HIT`, `MISS`, `RUN`, `FAIL`, `CANCELLED`; none while pending). */
export function statusLabel(status: StepStatus): string {
  return LOOK[status].label;
}

/** The `why` column: the miss reason, the time a hit saved, or what failed. */
export function whyText(row: StepRowState): string {
  switch (row.status) {
    case 'done':
      return row.reason ?? '';
    case 'hit':
      // Below 0.05 s it would print as `saved 0.0s`: noise on every metadata step.
      return row.savedMs !== undefined && row.savedMs >= 50 ? `saved ${formatDuration(row.savedMs)}` : '';
    case 'failed':
      // The message is in the failure panel below; the row names the cause in a few words.
      if (row.signal) return `killed by ${row.signal}`;
      if (row.exitCode !== undefined && row.exitCode !== null) return `exit code ${row.exitCode}`;
      return row.message ?? '';
    case 'meta':
    case 'pending':
    case 'running':
    case 'cancelled':
      return '';
    default:
      return unreachable(row.status);
  }
}

export const PHASE: Record<Phase, { text: string; tone: Tone }> = {
  idle: { text: 'starting', tone: 'dim' },
  watching: { text: 'watching for changes', tone: 'ok' },
  debouncing: { text: 'change detected', tone: 'info' },
  building: { text: 'building', tone: 'info' },
  cancelling: { text: 'cancelling the stale step', tone: 'warn' },
  failed: { text: 'failed', tone: 'bad' },
  done: { text: 'done', tone: 'ok' },
  cancelled: { text: 'cancelled', tone: 'warn' },
  stopped: { text: 'stopped', tone: 'dim' },
};

/** The header's state words, e.g. `failed, waiting for a change`. */
export function phaseText(state: Pick<UiState, 'phase' | 'mode'>): string {
  const { text } = PHASE[state.phase];
  return state.phase === 'failed' && state.mode === 'watch' ? `${text}, waiting for a change` : text;
}

/** `ok in 3.2s · 5 hits · 2 misses · saved 41.2s · store 182 MB` (no `saved` when nothing was). */
export function totalsText(last: BuildTotals, storeSize: number | undefined): string {
  const outcome = last.ok ? 'ok' : last.cancelled ? 'cancelled' : 'failed';
  const parts = [
    `${outcome} in ${formatDuration(last.ms)}`,
    count(last.hits, 'hit', 'hits'),
    count(last.misses, 'miss', 'misses'),
  ];
  // `saved 0.0s` on a cold build says nothing the hit count does not.
  if (last.savedMs >= 50) parts.push(`saved ${formatDuration(last.savedMs)}`);
  if (storeSize !== undefined) parts.push(`store ${formatSize(storeSize)}`);
  return parts.join(' · ');
}


/** Braille spinner frames; one per tick. */
export const SPINNER_FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'] as const;

/** A run of text in one tone: a line of the UI is a list of them. */
export interface Segment {
  text: string;
  tone: Tone;
}

/** One step row's segments (StepRow renders them; so does the early frame). */
export function rowSegments(row: StepRowState, multiStage: boolean, layout: RowLayout, symbol: string, time: number | undefined): Segment[] {
  const look = LOOK[row.status];
  const size = row.size !== undefined ? formatSize(row.size) : '';
  const timeText = time !== undefined ? formatDuration(time) : '';
  return [
    { text: `${symbol} ${fit(look.label, layout.labelWidth)}`, tone: look.tone },
    { text: ' ', tone: 'plain' },
    { text: fit(stageTag(row, multiStage), layout.stageWidth), tone: 'dim' },
    { text: ' ', tone: 'plain' },
    { text: fit(row.instruction, layout.instructionWidth), tone: row.status === 'pending' ? 'dim' : 'plain' },
    { text: '  ', tone: 'plain' },
    { text: fit(whyText(row), layout.whyWidth), tone: row.status === 'failed' ? 'bad' : row.status === 'done' ? 'warn' : 'dim' },
    { text: '  ', tone: 'plain' },
    { text: size.padStart(SIZE_WIDTH), tone: 'dim' },
    { text: ` ${timeText.padStart(TIME_WIDTH)}`, tone: 'plain' },
  ];
}

/** The header's first line: `stratum build · building · 3/7 steps · 2 hits · 1 miss`, or the
 *  totals once a one-build session is over. */
export function headerSegments(state: UiState): Segment[] {
  const phase = PHASE[state.phase];
  const building = state.phase === 'building' || state.phase === 'cancelling';
  const progress = building
    ? ` · ${state.finished.length}/${state.steps.length} steps · ${count(state.live.hits, 'hit', 'hits')} · ${count(state.live.misses, 'miss', 'misses')}`
    : '';
  const last = state.last;
  const oneLine = state.mode === 'build' && last !== undefined && last.build === state.build && !building;
  return [
    { text: `stratum ${state.mode}`, tone: 'strong' },
    { text: state.mode === 'watch' && state.build > 0 ? ` · build #${state.build}` : '', tone: 'plain' },
    // An unnamed target stage is just its number: not worth a word.
    { text: state.target && !/^\d+$/.test(state.target) ? ` (target ${state.target})` : '', tone: 'dim' },
    { text: ' · ', tone: 'plain' },
    oneLine ? { text: totalsText(last, state.storeSize), tone: lastTone(last) } : { text: phaseText(state), tone: phase.tone },
    { text: progress, tone: 'plain' },
  ];
}

export function lastTone(last: BuildTotals | undefined): Tone {
  return last === undefined ? 'plain' : last.ok ? 'ok' : last.cancelled ? 'warn' : 'bad';
}

/** The keys that work right now. `r` and `f` only exist in watch mode. */
export function footerSegments(mode: UiState['mode'], hasFailure: boolean, fullLog: boolean): Segment[] {
  const keys: [string, string][] = [['q', 'quit']];
  if (mode === 'watch') keys.push(['r', 'rebuild'], ['f', 'rebuild without cache']);
  if (hasFailure) keys.push(['l', fullLog ? 'hide the full log' : 'full log']);
  return keys.flatMap(([key, what], i): Segment[] => [...(i > 0 ? [{ text: ' · ', tone: 'dim' as const }] : []), { text: key, tone: 'info' }, { text: ` ${what}`, tone: 'dim' }]);
}
