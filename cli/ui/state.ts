/**
 * What the terminal UI knows, folded from the engine's event stream by one pure reducer.
 * Components only map this state to text; the hook in `hooks/use-build-state.ts` feeds it.
 *
 * Lifetimes: a `build-start` replaces the rows, the running logs and the live counts (a watch
 * session redraws its table per build), while the last finished build's totals, the store size,
 * the last failure and the last change survive it, so the header never drops to zeros.
 */
import { unreachable, type BuildError, type BuildEvent, type StepInfo } from '../../engine/events.js';
import { cleanLogLine } from './format.js';

/** Lines of the running step's output the log panel shows. */
export const LOG_TAIL_LINES = 8;
/** Lines kept per running step, and so the most the full failure log can show. */
export const FULL_LOG_LINES = 500;
/** Warnings kept for display. */
export const WARNINGS_KEPT = 3;

export type Mode = 'build' | 'watch';

/** `done` is a step that missed and was built; `hit` one the cache served; `meta` a FROM or
 *  metadata-only step (ENV, CMD, …), which is neither. */
export type StepStatus = 'pending' | 'running' | 'hit' | 'done' | 'meta' | 'failed' | 'cancelled';

/**
 * The session's state as the header shows it. The watch-state events drive most of it; the
 * UI adds `failed` (a watch session waiting for a change after a failed build), and for
 * `stratum build`, `done` and `cancelled`. `idle` is before the first event.
 */
export type Phase =
  | 'idle'
  | 'watching'
  | 'debouncing'
  | 'building'
  | 'cancelling'
  | 'failed'
  | 'done'
  | 'cancelled'
  | 'stopped';

export interface StepRowState extends StepInfo {
  status: StepStatus;
  /** Why it missed (`src/app.ts changed`), on `done` rows. */
  reason?: string;
  /** The failure message, exit code and signal, on `failed` rows. */
  message?: string;
  exitCode?: number | null;
  signal?: string | null;
  /** Wall time in this build, once finished. */
  ms?: number;
  /** Layer size in bytes; absent for metadata-only steps and FROM (layer null). */
  size?: number;
  /** On hits: how long the step took when it was built. */
  savedMs?: number;
  /** Running rows: when this process received the step's start (Date.now()), if the caller
   *  stamped it (the live store does; a replayed recording does not). The running clock counts
   *  from it, so it does not restart when Ink takes over from the early frame. */
  startedAt?: number;
}

export interface BuildTotals {
  build: number;
  ok: boolean;
  cancelled: boolean;
  hits: number;
  misses: number;
  ms: number;
  savedMs: number;
  error?: BuildError;
}

export interface FailureInfo {
  /** The build the failure happened in; the panel shows only while that build is current. */
  build: number;
  step: StepInfo;
  message: string;
  hint?: string;
  exitCode?: number | null;
  signal?: string | null;
  ms: number;
  /** The engine's tail of the output, shown by default. */
  logTail: string[];
  /** Every line the UI saw, up to FULL_LOG_LINES (the earliest are dropped); shown on `l`. */
  fullLog: string[];
  /** True when lines were dropped from `fullLog`. */
  fullLogTruncated: boolean;
}

export interface WatchChange {
  files: string[];
  fromStep?: number;
  dockerfile?: boolean;
}

export interface UiState {
  mode: Mode;
  phase: Phase;
  /** Number of the current build; 0 before the first `build-start`. */
  build: number;
  target: string;
  /** The current build's steps, in plan order. */
  steps: StepRowState[];
  /** True when the plan spans several stages (rows then name their stage). */
  multiStage: boolean;
  /** Step indices in the order they finished: only ever appended within one build, which is
   *  what Ink's `<Static>` needs (it prints items past the last length it saw). */
  finished: number[];
  /** Step indices running now, in start order. */
  running: number[];
  /** Output of each running step, cleaned, at most FULL_LOG_LINES each. */
  logs: Readonly<Record<number, readonly string[]>>;
  /** Lines dropped from `logs[i]` because of the cap. */
  logsDropped: Readonly<Record<number, number>>;
  /** Counts of the current build so far. */
  live: { hits: number; misses: number; savedMs: number };
  /** The last finished build. */
  last?: BuildTotals;
  /** Store size after the last build that reported it. */
  storeSize?: number;
  failure?: FailureInfo;
  change?: WatchChange;
  warnings: string[];
  /** watch --run: the container of the last good image; it outlives the builds' rows. */
  container?: ContainerLine;
}

export interface ContainerLine {
  name: string;
  image: string;
  state: 'starting' | 'running' | 'stopping' | 'exited' | 'failed';
  /** Containers started after the first (one per image change). */
  restarts: number;
  exitCode?: number | null;
  /** Its last lines of output (CONTAINER_LOG_KEPT), newest last; a new container starts empty. */
  log: string[];
}

/** Lines of the container's output the header keeps. */
export const CONTAINER_LOG_KEPT = 3;

export function initialState(mode: Mode = 'build'): UiState {
  return {
    mode,
    phase: 'idle',
    build: 0,
    target: '',
    steps: [],
    multiStage: false,
    finished: [],
    running: [],
    logs: {},
    logsDropped: {},
    live: { hits: 0, misses: 0, savedMs: 0 },
    warnings: [],
  };
}

/** Fold one event into the state. Pure: returns a new state and never mutates its input. */
export function reduce(state: UiState, event: BuildEvent): UiState {
  return reduceAt(state, event, undefined);
}

/** `reduce`, with the time this process received the event (a step-start's running clock). */
function reduceAt(state: UiState, event: BuildEvent, receivedAt: number | undefined): UiState {
  switch (event.type) {
    case 'build-start':
      return {
        ...state,
        phase: 'building',
        build: event.build,
        target: event.target,
        steps: event.steps.map((s) => ({ ...stepInfo(s), status: 'pending' })),
        multiStage: new Set(event.steps.map((s) => s.stage)).size > 1,
        finished: [],
        running: [],
        logs: {},
        logsDropped: {},
        live: { hits: 0, misses: 0, savedMs: 0 },
      };
    case 'step-start': {
      const running = state.running.includes(event.index) ? state.running : [...state.running, event.index];
      return { ...state, steps: upsert(state.steps, event, { status: 'running', ...(receivedAt !== undefined ? { startedAt: receivedAt } : {}) }), running };
    }
    case 'step-log':
      return appendLog(state, event.index, [event.line]);
    case 'step-done': {
      const row: Partial<StepRowState> = {
        status: event.metadata ? 'meta' : event.cached ? 'hit' : 'done',
        ms: event.ms,
        ...(event.layer !== null ? { size: event.size } : {}),
        ...(!event.cached && event.reason !== undefined ? { reason: event.reason } : {}),
        ...(event.cached && event.savedMs !== undefined ? { savedMs: event.savedMs } : {}),
      };
      const live = event.metadata
        ? state.live
        : event.cached
        ? { ...state.live, hits: state.live.hits + 1, savedMs: state.live.savedMs + (event.savedMs ?? 0) }
        : { ...state.live, misses: state.live.misses + 1 };
      return { ...finish(state, event.index), steps: upsert(state.steps, event, row), live };
    }
    case 'step-failed': {
      const seen = state.logs[event.index] ?? [];
      const tail = event.logTail.map(cleanLogLine);
      const failure: FailureInfo = {
        build: state.build,
        step: stepInfo(event),
        message: event.message,
        ms: event.ms,
        logTail: tail,
        // The engine may send no step-log lines at all (a step that failed before printing,
        // or a replay): then the tail is the whole log we have.
        fullLog: seen.length > 0 ? [...seen] : tail.slice(-FULL_LOG_LINES),
        fullLogTruncated: seen.length > 0 ? (state.logsDropped[event.index] ?? 0) > 0 : tail.length > FULL_LOG_LINES,
        ...(event.hint !== undefined ? { hint: event.hint } : {}),
        ...(event.exitCode !== undefined ? { exitCode: event.exitCode } : {}),
        ...(event.signal !== undefined ? { signal: event.signal } : {}),
      };
      return {
        ...finish(state, event.index),
        steps: upsert(state.steps, event, {
          status: 'failed',
          ms: event.ms,
          message: event.message,
          ...(event.exitCode !== undefined ? { exitCode: event.exitCode } : {}),
          ...(event.signal !== undefined ? { signal: event.signal } : {}),
        }),
        failure,
      };
    }
    case 'step-cancelled':
      return { ...finish(state, event.index), steps: upsert(state.steps, event, { status: 'cancelled', ms: event.ms }) };
    case 'build-done': {
      const last: BuildTotals = {
        build: event.build,
        ok: event.ok,
        cancelled: event.cancelled ?? false,
        hits: event.hits,
        misses: event.misses,
        ms: event.ms,
        savedMs: event.savedMs,
        ...(event.error !== undefined ? { error: event.error } : {}),
      };
      return {
        ...state,
        last,
        phase: phaseAfterBuild(state.mode, last),
        running: [],
        logs: {},
        logsDropped: {},
        ...(event.storeSize !== undefined ? { storeSize: event.storeSize } : {}),
      };
    }
    case 'watch-state': {
      if (event.state === 'watching') {
        const failed = state.last !== undefined && !state.last.ok && !state.last.cancelled;
        return { ...state, phase: failed ? 'failed' : 'watching' };
      }
      return { ...state, phase: event.state };
    }
    case 'watch-change':
      return {
        ...state,
        change: {
          files: [...event.files],
          ...(event.fromStep !== undefined ? { fromStep: event.fromStep } : {}),
          ...(event.dockerfile !== undefined ? { dockerfile: event.dockerfile } : {}),
        },
      };
    case 'watch-skip':
      // The watch-state event before it already moved the header back to watching.
      return state;
    case 'container-state': {
      // watch --run: the header's container line; a failure is a warning too (its message).
      const prev = state.container;
      const container: ContainerLine = {
        name: event.name,
        image: event.image,
        state: event.state,
        restarts: (prev?.restarts ?? -1) + (event.state === 'starting' || !prev ? 1 : 0),
        ...(event.exitCode !== undefined ? { exitCode: event.exitCode } : {}),
        log: event.state === 'starting' ? [] : (prev?.log ?? []),
      };
      state = { ...state, container };
      // An exit we asked for (a new image replaced it, or the session ends) is no warning.
      return event.state === 'failed' || (event.state === 'exited' && prev?.state !== 'stopping')
        ? { ...state, warnings: [...state.warnings, `container ${event.name}: ${event.state}${event.exitCode != null ? ` (exit ${event.exitCode})` : ''}${event.message ? `: ${event.message}` : ''}`].slice(-WARNINGS_KEPT) }
        : state;
    }
    case 'container-log': {
      const c = state.container;
      if (!c || c.name !== event.name) return state;
      // Terminal control sequences of the container's output would move the UI's cursor.
      const line = event.line.replace(/\x1b\[[0-9;?]*[ -\/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f]/g, '');
      return { ...state, container: { ...c, log: [...c.log, line].slice(-CONTAINER_LOG_KEPT) } };
    }
    case 'contention':
      return state; // informational: the step row already shows the step running
    case 'warning': {
      const where = event.file ? ` (${event.file}${event.line !== undefined ? `:${event.line}` : ''})` : '';
      return { ...state, warnings: [...state.warnings, event.message + where].slice(-WARNINGS_KEPT) };
    }
    default:
      return unreachable(event);
  }
}

/**
 * Fold a batch of events: the same result as reducing them one by one, but a run of
 * `step-log` lines of one step is appended with one copy of its buffer instead of one per
 * line. The hook batches per frame, so a RUN printing 10k lines/s costs 30 copies a second.
 */
export function reduceAll(state: UiState, events: readonly BuildEvent[], receivedAt?: readonly number[]): UiState {
  let i = 0;
  while (i < events.length) {
    const event = events[i]!;
    if (event.type !== 'step-log') {
      state = reduceAt(state, event, receivedAt?.[i]);
      i++;
      continue;
    }
    const lines: string[] = [];
    let j = i;
    for (; j < events.length; j++) {
      const e = events[j]!;
      if (e.type !== 'step-log' || e.index !== event.index) break;
      lines.push(e.line);
    }
    state = appendLog(state, event.index, lines);
    i = j;
  }
  return state;
}

/** The lines the log panel shows: the last LOG_TAIL_LINES of the most recently started
 *  running step that has printed anything. */
export function runningLog(state: UiState): { step: StepRowState; lines: readonly string[] } | undefined {
  for (let i = state.running.length - 1; i >= 0; i--) {
    const index = state.running[i]!;
    const lines = state.logs[index];
    const step = state.steps.find((s) => s.index === index);
    if (step && lines && lines.length > 0) return { step, lines: lines.slice(-LOG_TAIL_LINES) };
  }
  return undefined;
}

/** The failure of the current build, if one of its steps failed. */
export function currentFailure(state: UiState): FailureInfo | undefined {
  return state.failure && state.failure.build === state.build ? state.failure : undefined;
}

function phaseAfterBuild(mode: Mode, last: BuildTotals): Phase {
  if (last.ok) return mode === 'watch' ? 'watching' : 'done';
  // A watch build is cancelled when a newer change supersedes it; a new build follows.
  if (last.cancelled) return mode === 'watch' ? 'watching' : 'cancelled';
  return 'failed';
}

function stepInfo(s: StepInfo): StepInfo {
  return {
    index: s.index,
    total: s.total,
    stage: s.stage,
    stageIndex: s.stageIndex,
    stageTotal: s.stageTotal,
    instruction: s.instruction,
    line: s.line,
  };
}

/** Update the row of `info.index`, or insert it in index order if the plan did not list it. */
function upsert(steps: StepRowState[], info: StepInfo, patch: Partial<StepRowState>): StepRowState[] {
  const at = steps.findIndex((s) => s.index === info.index);
  if (at >= 0) {
    const next = steps.slice();
    next[at] = { ...steps[at]!, ...patch };
    return next;
  }
  const row: StepRowState = { ...stepInfo(info), status: 'pending', ...patch };
  return [...steps, row].sort((a, b) => a.index - b.index);
}

/** Move a step out of `running` into `finished`, dropping its buffered output. */
function finish(state: UiState, index: number): UiState {
  const logs = { ...state.logs };
  delete logs[index];
  const logsDropped = { ...state.logsDropped };
  delete logsDropped[index];
  return {
    ...state,
    running: state.running.filter((i) => i !== index),
    finished: state.finished.includes(index) ? state.finished : [...state.finished, index],
    logs,
    logsDropped,
  };
}

function appendLog(state: UiState, index: number, raw: readonly string[]): UiState {
  // One event is one line, but a defensive split keeps an embedded newline from breaking rows.
  const added = raw.flatMap((line) => line.split('\n')).map(cleanLogLine);
  const prev = state.logs[index] ?? [];
  const drop = Math.max(0, prev.length + added.length - FULL_LOG_LINES);
  const lines = drop > 0 ? [...prev, ...added].slice(drop) : [...prev, ...added];
  return {
    ...state,
    logs: { ...state.logs, [index]: lines },
    logsDropped: drop > 0 ? { ...state.logsDropped, [index]: (state.logsDropped[index] ?? 0) + drop } : state.logsDropped,
  };
}
