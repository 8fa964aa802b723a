import { Text } from 'ink';
import { unreachable } from '../../../engine/events.js';
import type { StepRowState, StepStatus } from '../state.js';
import { fit, formatDuration, formatSize, stageTag, textWidth } from '../format.js';
import { useTicker } from '../hooks/use-ticker.js';
import { useTone, type Tone } from '../theme.js';

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

const SIZE_WIDTH = 7; // `48.3 MB`
const TIME_WIDTH = 6; // `1m02s`, `12.3s`
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

const LOOK: Record<StepStatus, { symbol: string; label: string; tone: Tone }> = {
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

export interface StepRowProps {
  row: StepRowState;
  multiStage: boolean;
  layout: RowLayout;
}

/** One line of the step table. A running row animates a spinner and its elapsed time. */
export function StepRow({ row, multiStage, layout }: StepRowProps) {
  if (row.status === 'running') return <RunningRow row={row} multiStage={multiStage} layout={layout} />;
  return <RowText row={row} multiStage={multiStage} layout={layout} symbol={LOOK[row.status].symbol} time={row.ms} />;
}

function RunningRow({ row, multiStage, layout }: StepRowProps) {
  const { frame, elapsedMs } = useTicker(100);
  return <RowText row={row} multiStage={multiStage} layout={layout} symbol={frame} time={elapsedMs} />;
}

function RowText({ row, multiStage, layout, symbol, time }: StepRowProps & { symbol: string; time: number | undefined }) {
  const tone = useTone();
  const look = LOOK[row.status];
  const why = whyText(row);
  const whyTone: Tone = row.status === 'failed' ? 'bad' : row.status === 'done' ? 'warn' : 'dim';
  const size = row.size !== undefined ? formatSize(row.size) : '';
  const timeText = time !== undefined ? formatDuration(time) : '';
  return (
    <Text wrap="truncate-end">
      <Text {...tone(look.tone)}>
        {symbol} {fit(look.label, layout.labelWidth)}
      </Text>{' '}
      <Text {...tone('dim')}>{fit(stageTag(row, multiStage), layout.stageWidth)}</Text>{' '}
      <Text {...tone(row.status === 'pending' ? 'dim' : 'plain')}>{fit(row.instruction, layout.instructionWidth)}</Text>
      {'  '}
      <Text {...tone(whyTone)}>{fit(why, layout.whyWidth)}</Text>
      {'  '}
      <Text {...tone('dim')}>{size.padStart(SIZE_WIDTH)}</Text> {timeText.padStart(TIME_WIDTH)}
    </Text>
  );
}
