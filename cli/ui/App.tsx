import { useCallback, useRef, useState } from 'react';
import { Box, Static, Text, useInput, useStdin } from 'ink';
import type { EventBus } from '../../engine/events.js';
import { LOG_TAIL_LINES, currentFailure, runningLog, type FailureInfo, type Mode, type StepRowState, type UiState } from './state.js';
import { useBuildState } from './hooks/use-build-state.js';
import type { BuildStore } from './store.js';
import { useTerminalSize } from './hooks/use-terminal-size.js';
import { ColorContext, useTone } from './theme.js';
import { count } from './format.js';
import { Header } from './components/Header.js';
import { StepRow, rowLayout, type RowLayout } from './components/StepRow.js';
import { LogPanel } from './components/LogPanel.js';
import { FailurePanel } from './components/FailurePanel.js';
import { Footer } from './components/Footer.js';

export interface AppProps {
  bus: EventBus;
  /** A store already subscribed to `bus` (renderTui makes one so it can flush before unmount). */
  store?: BuildStore;
  mode: Mode;
  /** Style the output; false renders plain text with no ANSI escapes (NO_COLOR). Default true. */
  color?: boolean;
  /** `q` or Ctrl-C. The caller stops the build or the watcher and unmounts the UI. */
  onQuit(): void;
  /** `r` (force false) or `f` (force true: rebuild without the cache). Watch mode only. */
  onRebuild(force: boolean): void;
  /** Cap on re-renders per second. Default 30. */
  maxFps?: number;
}

/**
 * The whole terminal UI. Two layouts over the same components:
 * - `build`: finished rows go into Ink's `<Static>` (printed once, kept in the scrollback,
 *   never redrawn); below them the live region holds the running and pending rows, the log
 *   panel, the failure, the header as a status line, and the keys.
 * - `watch`: every build redraws the whole table, so it all lives in the live region: header
 *   with the last totals and the change that triggered the build, then the rows.
 */
export function App({ bus, store, mode, color = true, onQuit, onRebuild, maxFps }: AppProps) {
  const state = useBuildState(bus, mode, { ...(store ? { store } : {}), ...(maxFps !== undefined ? { maxFps } : {}) });
  const failure = currentFailure(state);
  // The toggle belongs to one failure: a new failure opens with its tail, not its full log.
  const [fullLogOf, setFullLogOf] = useState<FailureInfo | undefined>(undefined);
  const fullLog = failure !== undefined && fullLogOf === failure;
  // The full log is paged (issue 12): a window of the terminal's height less the chrome,
  // `scroll` lines up from its end; ↑/↓ (k/j) move a line, PgUp/PgDn (b/space) a page, g/G the ends.
  const { rows: termRows } = useTerminalSize();
  const pageSize = termRows !== undefined ? Math.max(5, termRows - 14) : Infinity;
  const [scroll, setScroll] = useState(0);
  const maxScroll = Math.max(0, (failure?.fullLog.length ?? 0) - pageSize);

  // Keys read the latest render through a ref: Ink re-subscribes a changed handler only in an
  // effect, after the frame, and a key in between must not meet a stale closure.
  const latest = useRef({ failure, mode, onQuit, onRebuild, fullLog, pageSize, maxScroll });
  latest.current = { failure, mode, onQuit, onRebuild, fullLog, pageSize, maxScroll };
  const onKey = useCallback((input: string, key: { ctrl: boolean; upArrow?: boolean; downArrow?: boolean; pageUp?: boolean; pageDown?: boolean }) => {
    const { failure: f, mode: m, onQuit: quit, onRebuild: rebuild, fullLog: open, pageSize: page, maxScroll: max } = latest.current;
    const move = (by: number) => setScroll((s) => Math.max(0, Math.min(max, s + by)));
    if (open && (key.upArrow || input === 'k')) move(1);
    else if (open && (key.downArrow || input === 'j')) move(-1);
    else if (open && (key.pageUp || input === 'b')) move(page);
    else if (open && (key.pageDown || input === ' ')) move(-page);
    else if (open && input === 'g') move(max);
    else if (open && input === 'G') move(-max);
    else if (input === 'q' || (key.ctrl && input === 'c')) quit();
    else if (input === 'r' && m === 'watch') rebuild(false);
    else if (input === 'f' && m === 'watch') rebuild(true);
    else if (input === 'l' && f !== undefined) {
      setScroll(0);
      setFullLogOf((o) => (o === f ? undefined : f));
    }
  }, []);
  // Without a TTY on stdin (`stratum build < /dev/null`) there are no keys; Ink would throw
  // when asked for raw mode.
  const { isRawModeSupported } = useStdin();
  useInput(onKey, { isActive: isRawModeSupported });

  return (
    <ColorContext.Provider value={color}>
      {mode === 'build' ? <BuildLayout state={state} failure={failure} fullLog={fullLog} page={{ size: pageSize, fromEnd: Math.min(scroll, maxScroll) }} /> : <WatchLayout state={state} failure={failure} fullLog={fullLog} page={{ size: pageSize, fromEnd: Math.min(scroll, maxScroll) }} />}
    </ColorContext.Provider>
  );
}

interface LayoutProps {
  state: UiState;
  failure: FailureInfo | undefined;
  fullLog: boolean;
  /** The full log's window: `size` lines, `fromEnd` lines up from its end. */
  page?: { size: number; fromEnd: number };
}

/** Pending rows shown below the running one in build mode; the rest is a count. */
const PENDING_SHOWN = 3;

function BuildLayout({ state, failure, fullLog, page }: LayoutProps) {
  const { columns, rows: termRows } = useTerminalSize();
  const layout = rowLayout(columns, state.steps, state.multiStage);
  const byIndex = new Map(state.steps.map((s) => [s.index, s]));
  const finished = state.finished.map((i) => byIndex.get(i)).filter((s): s is StepRowState => s !== undefined);
  const running = state.steps.filter((s) => s.status === 'running');
  const pending = state.steps.filter((s) => s.status === 'pending');
  const buildOver = state.phase === 'done' || state.phase === 'failed' || state.phase === 'cancelled';
  // The live region must fit the terminal or Ink clears the screen each frame: the log tail
  // gets what the running and pending rows, the header (2 + warnings), the margins, the log
  // title and the footer leave, at least MIN_LOG_LINES.
  const live = running.length + Math.min(pending.length, PENDING_SHOWN + 1) + 7 + (state.warnings.length + (state.container ? 1 + state.container.log.length : 0));
  const logLines = termRows !== undefined ? Math.max(MIN_LOG_LINES, Math.min(LOG_TAIL_LINES, termRows - live)) : undefined;
  return (
    <Box flexDirection="column">
      {/* A new Static per build: its item counter restarts, the old rows stay in the scrollback. */}
      <Static key={state.build} items={finished}>
        {(row) => <StepRow key={row.index} row={row} multiStage={state.multiStage} layout={layout} />}
      </Static>
      {running.map((row) => (
        <StepRow key={row.index} row={row} multiStage={state.multiStage} layout={layout} />
      ))}
      {!buildOver && <PendingRows rows={pending} multiStage={state.multiStage} layout={layout} />}
      <Details state={state} failure={failure} fullLog={fullLog} columns={columns} interactive={!buildOver} {...(logLines !== undefined ? { logLines } : {})} {...(page ? { page } : {})} />
      <Box marginTop={1} flexDirection="column">
        <Header state={state} columns={columns} />
        {/* The CLI unmounts when the build is over: leave a clean summary, not dead keys. */}
        {!buildOver && <Footer mode={state.mode} hasFailure={failure !== undefined} fullLog={fullLog} />}
      </Box>
    </Box>
  );
}

function PendingRows({ rows, multiStage, layout }: { rows: StepRowState[]; multiStage: boolean; layout: RowLayout }) {
  const tone = useTone();
  return (
    <>
      {rows.slice(0, PENDING_SHOWN).map((row) => (
        <StepRow key={row.index} row={row} multiStage={multiStage} layout={layout} />
      ))}
      {rows.length > PENDING_SHOWN && <Text {...tone('dim')}>· {count(rows.length - PENDING_SHOWN, 'more step', 'more steps')}</Text>}
    </>
  );
}

/** Lines of the watch layout besides the table and the log: header (2), the change line,
 *  the margins (3), the log panel's title and the footer. */
const WATCH_CHROME_LINES = 8;
/** Log lines kept when the terminal is short: the running step's latest output stays visible. */
const MIN_LOG_LINES = 2;

/**
 * What fits a terminal `termRows` high (issue 12: at 80×24 the header and the running step
 * stay visible): the table gets what the chrome and a short log leave; finished rows before
 * the first unfinished one fold into one line (cache hits first, then any finished step: a
 * finished stage collapses), pending rows past the budget become `· N more steps`, and the
 * log tail gets the lines left over, at most LOG_TAIL_LINES.
 */
export function fitWatch(steps: StepRowState[], termRows: number | undefined, warnings: number, hasLog: boolean): { folded: number; rows: StepRowState[]; more: number; logLines: number } {
  if (termRows === undefined) return { ...foldLeadingHits(steps, Infinity), more: 0, logLines: LOG_TAIL_LINES };
  const chrome = WATCH_CHROME_LINES + warnings;
  const tableBudget = Math.max(3, termRows - chrome - (hasLog ? MIN_LOG_LINES : 0));
  let { folded, rows } = foldLeadingHits(steps, tableBudget);
  if (rows.length + (folded ? 1 : 0) > tableBudget) {
    // Fold every finished row before the first unfinished one, as one line.
    let prefix = 0;
    while (prefix < steps.length && ['hit', 'meta', 'done'].includes(steps[prefix]!.status)) prefix++;
    const want = Math.min(prefix, steps.length - tableBudget + 1);
    if (want > folded) {
      folded = want;
      rows = steps.slice(want);
    }
  }
  let more = 0;
  const room = tableBudget - (folded ? 1 : 0);
  if (rows.length > room) {
    more = rows.length - (room - 1);
    rows = rows.slice(0, room - 1);
  }
  const used = chrome + rows.length + (folded ? 1 : 0) + (more ? 1 : 0);
  const logLines = hasLog ? Math.max(MIN_LOG_LINES, Math.min(LOG_TAIL_LINES, termRows - used)) : 0;
  return { folded, rows, more, logLines };
}

function WatchLayout({ state, failure, fullLog, page }: LayoutProps) {
  const { columns, rows: termRows } = useTerminalSize();
  const tone = useTone();
  const layout = rowLayout(columns, state.steps, state.multiStage);
  const log = runningLog(state);
  const { folded, rows, more, logLines } = fitWatch(state.steps, termRows, (state.warnings.length + (state.container ? 1 + state.container.log.length : 0)), log !== undefined);
  const foldedRows = state.steps.slice(0, folded);
  const foldedHits = foldedRows.filter((s) => s.status === 'hit').length;
  return (
    <Box flexDirection="column">
      <Header state={state} columns={columns} />
      {state.steps.length > 0 && (
        <Box flexDirection="column" marginTop={1}>
          {folded > 0 && (
            <Text wrap="truncate-end" {...tone('ok')}>
              ✓ {foldedRows.every((s) => s.status !== 'done') ? `${count(folded, 'step', 'steps')} cached` : `${count(folded, 'step', 'steps')} done (${foldedHits} cached)`}
            </Text>
          )}
          {rows.map((row) => (
            <StepRow key={row.index} row={row} multiStage={state.multiStage} layout={layout} />
          ))}
          {more > 0 && <Text {...tone('dim')}>· {count(more, 'more step', 'more steps')}</Text>}
        </Box>
      )}
      <Details state={state} failure={failure} fullLog={fullLog} columns={columns} interactive logLines={logLines} {...(page ? { page } : {})} />
      {state.phase !== 'stopped' && (
        <Box marginTop={1}>
          <Footer mode={state.mode} hasFailure={failure !== undefined} fullLog={fullLog} />
        </Box>
      )}
    </Box>
  );
}

/**
 * A table taller than the terminal makes Ink clear the screen on every frame. When the rows
 * do not fit, fold the leading cache hits (in watch mode, the unchanged prefix) into one line.
 */
export function foldLeadingHits(steps: StepRowState[], maxRows: number): { folded: number; rows: StepRowState[] } {
  if (steps.length <= maxRows) return { folded: 0, rows: steps };
  let prefix = 0;
  while (prefix < steps.length && (steps[prefix]!.status === 'hit' || steps[prefix]!.status === 'meta')) prefix++;
  const folded = Math.min(prefix, steps.length - maxRows + 1);
  return folded > 1 ? { folded, rows: steps.slice(folded) } : { folded: 0, rows: steps };
}

function Details({ state, failure, fullLog, columns, interactive, logLines, page }: LayoutProps & { columns: number; interactive: boolean; logLines?: number }) {
  const log = runningLog(state);
  return (
    <>
      {log !== undefined && <LogPanel step={log.step} lines={logLines !== undefined ? log.lines.slice(-logLines) : log.lines} multiStage={state.multiStage} columns={columns} />}
      {failure !== undefined && <FailurePanel failure={failure} full={fullLog} interactive={interactive} multiStage={state.multiStage} columns={columns} {...(page ? { page } : {})} />}
    </>
  );
}
