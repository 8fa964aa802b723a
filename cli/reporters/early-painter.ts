/**
 * Paints the UI's frame (cli/ui/early-frame.ts) on the terminal from the store's state, with
 * plain ANSI, from the first event until Ink takes over or the build ends. Each paint moves the cursor back to the
 * frame's first line and clears to the end of the screen before writing the new lines; so
 * does `handOver()`, leaving the cursor where Ink's first frame then starts: no line of the
 * early frame is left behind (the frame is kept shorter than the terminal, so every line of it
 * is still on screen to be erased).
 */
import type { BuildStore } from '../ui/store.js';
import type { StepRowState } from '../ui/state.js';
import { earlyFrame } from '../ui/early-frame.js';

export interface EarlyPainter {
  /** Erase the frame and stop: Ink draws from the cursor, where the frame began. */
  handOver(): void;
  /** Paint the final state, keep it on screen and give the cursor back. */
  finish(): void;
}

const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
/**
 * Clear the `n` lines above the cursor line one by one, bottom up, ending at column 0 of the
 * first (as Ink's log-update does). Not `ESC[nF ESC[0J`: tmux (scroll-on-clear) pushes a
 * screen cleared from its top-left corner into the scrollback, a ghost copy of the frame.
 */
const erase = (n: number) => (n > 0 ? '\x1b[2K' + '\x1b[1A\x1b[2K'.repeat(n) + '\x1b[G' : '');

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;
const visibleWidth = (line: string) => [...line.replace(ANSI, '')].length;

/**
 * How many screen rows `widths` (the painted lines' visible widths) take once the terminal
 * reflows them to `columns`: a line that was as wide as the old terminal wraps onto two or
 * more rows when it narrows, and every one of those rows must be erased.
 */
export function rowsAfterReflow(widths: readonly number[], columns: number): number {
  let rows = 0;
  for (const w of widths) rows += Math.max(1, Math.ceil(w / Math.max(1, columns)));
  return rows;
}

export function startEarlyPainter(store: BuildStore, out: NodeJS.WriteStream, color: boolean): EarlyPainter {
  let painted = 0;
  let widths: number[] = [];
  let last = '';
  let stopped = false;
  const startedAt = new Map<number, number>();
  const elapsed = (row: StepRowState) => {
    let t = row.startedAt ?? startedAt.get(row.index);
    if (t === undefined) startedAt.set(row.index, (t = Date.now()));
    return Date.now() - t;
  };
  /** `whole`: the final frame, all of it (it stays, and may scroll: nothing erases it later). */
  const paint = (whole = false) => {
    // Nothing before the first event: the first frame painted is the real one (the plan's
    // step rows from build-start), never a placeholder.
    if (stopped || store.getState().phase === 'idle') return;
    const lines = earlyFrame(store.getState(), { columns: out.columns || 80, ...(out.rows && !whole ? { rows: out.rows } : {}), color, elapsed });
    const text = lines.map((l) => l + '\n').join('');
    if (text === last) return;
    out.write(erase(painted) + text);
    painted = lines.length;
    widths = lines.map(visibleWidth);
    last = text;
  };
  out.write(HIDE_CURSOR);
  const unsubscribe = store.subscribe(() => paint());
  // The spinner and the clock of a running step move between events too.
  const ticker = setInterval(() => paint(), 100);
  ticker.unref();
  const onResize = () => {
    // The terminal reflowed what was painted to its new width: erase every row the painted
    // lines take now (a line that wraps takes two), then paint again at the new width.
    out.write(erase(rowsAfterReflow(widths, out.columns || 80)));
    painted = 0;
    widths = [];
    last = '';
    paint();
  };
  out.on('resize', onResize);
  paint();
  const stop = () => {
    stopped = true;
    unsubscribe();
    clearInterval(ticker);
    out.off('resize', onResize);
  };
  return {
    handOver() {
      if (stopped) return;
      stop();
      out.write(erase(painted));
      painted = 0;
    },
    finish() {
      if (stopped) return;
      store.flush();
      paint(true);
      stop();
      out.write(SHOW_CURSOR);
    },
  };
}
