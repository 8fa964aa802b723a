/**
 * The UI's frame as plain ANSI lines, drawn without Ink: what the terminal shows from the
 * first event on, while Ink loads (cli/reporters/early-painter.ts), and the whole UI of a
 * build that ends before Ink is needed (a cached build). It is BuildLayout and WatchLayout
 * (App.tsx) from the same row, header and footer text (frame-text.ts), less the log and
 * failure panels: a step that prints output, or fails, makes the caller load Ink first.
 *
 * No Ink or React here, and nothing that imports them: loading this costs a few ms.
 */
import type { StepRowState, UiState } from './state.js';
import { count } from './format.js';
import { LOOK, SPINNER_FRAMES, footerSegments, headerSegments, rowLayout, rowSegments, type Segment, type Tone } from './frame-text.js';

/** chalk's codes for the tones (theme.ts): the same bytes Ink writes. */
const ANSI: Record<Tone, [string, string]> = {
  ok: ['\x1b[32m', '\x1b[39m'],
  bad: ['\x1b[31m', '\x1b[39m'],
  warn: ['\x1b[33m', '\x1b[39m'],
  info: ['\x1b[36m', '\x1b[39m'],
  dim: ['\x1b[2m', '\x1b[22m'],
  strong: ['\x1b[1m', '\x1b[22m'],
  plain: ['', ''],
};

/** One line, cut to `width` columns with `…` as Ink's `wrap="truncate-end"` does. */
export function paintLine(segments: Segment[], width: number, color: boolean): string {
  const total = segments.reduce((n, s) => n + [...s.text].length, 0);
  let room = total > width ? Math.max(0, width - 1) : width;
  let out = '';
  for (const seg of segments) {
    if (room <= 0 || seg.text === '') continue;
    const chars = [...seg.text];
    const text = chars.slice(0, room).join('');
    room -= Math.min(room, chars.length);
    out += color && seg.tone !== 'plain' ? ANSI[seg.tone][0] + text + ANSI[seg.tone][1] : text;
  }
  if (total > width && width > 0) out += '…';
  return out.replace(/\s+$/, '');
}

export interface EarlyFrameOptions {
  columns: number;
  /** Terminal height: the frame keeps its last `rows - 1` lines (it must be erasable). */
  rows?: number;
  color: boolean;
  /** Elapsed ms of each running step, for its spinner and clock. */
  elapsed(row: StepRowState): number;
}

/** Pending rows shown below the running ones in build mode (App.tsx PENDING_SHOWN). */
const PENDING_SHOWN = 3;

/** The lines of the frame for `state`, without trailing newlines. */
export function earlyFrame(state: UiState, o: EarlyFrameOptions): string[] {
  const line = (segs: Segment[]) => paintLine(segs, o.columns, o.color);
  const layout = rowLayout(o.columns, state.steps, state.multiStage);
  const row = (r: StepRowState) => {
    if (r.status !== 'running') return line(rowSegments(r, state.multiStage, layout, LOOK[r.status].symbol, r.ms));
    const ms = o.elapsed(r);
    return line(rowSegments(r, state.multiStage, layout, SPINNER_FRAMES[Math.floor(ms / 100) % SPINNER_FRAMES.length]!, ms));
  };
  const buildOver = state.phase === 'done' || state.phase === 'failed' || state.phase === 'cancelled';
  const header = [line(headerSegments(state)), ...state.warnings.map((w) => line([{ text: `! ${w}`, tone: 'warn' }]))];
  const footer = line(footerSegments(state.mode, false, false));
  const byIndex = new Map(state.steps.map((s) => [s.index, s]));
  let lines: string[];
  if (state.mode === 'build') {
    const finished = state.finished.map((i) => byIndex.get(i)).filter((s): s is StepRowState => s !== undefined);
    const pending = state.steps.filter((s) => s.status === 'pending');
    lines = [
      ...finished.map(row),
      ...state.steps.filter((s) => s.status === 'running').map(row),
      ...(buildOver ? [] : pending.slice(0, PENDING_SHOWN).map(row)),
      ...(!buildOver && pending.length > PENDING_SHOWN ? [line([{ text: `· ${count(pending.length - PENDING_SHOWN, 'more step', 'more steps')}`, tone: 'dim' }])] : []),
      '',
      ...header,
      ...(buildOver ? [] : [footer]),
    ];
  } else {
    lines = [...header, ...(state.steps.length ? ['', ...state.steps.map(row)] : []), ...(state.phase !== 'stopped' ? ['', footer] : [])];
  }
  if (o.rows !== undefined && lines.length > o.rows - 1) lines = lines.slice(lines.length - Math.max(1, o.rows - 1));
  return lines;
}
