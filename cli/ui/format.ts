/**
 * Plain text formatting shared by the reporters: durations, sizes, truncation, log-line
 * cleaning, stage tags. No Ink or React here: the plain reporter imports this file and must
 * not pay for loading the UI.
 */
import type { StepInfo } from '../../engine/events.js';

/**
 * A duration as people read it in a build log: `0.4s`, `12.3s`, `1m02s`, `1h05m`.
 * One decimal below a minute (like BuildKit's `0.0s` for instant steps), whole seconds above.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  const tenths = Math.round(ms / 100);
  if (tenths < 600) return `${(tenths / 10).toFixed(1)}s`;
  const secs = Math.round(ms / 1000);
  const mins = Math.floor(secs / 60);
  if (mins < 60) return `${mins}m${String(secs % 60).padStart(2, '0')}s`;
  const hours = Math.floor(mins / 60);
  return `${hours}h${String(mins % 60).padStart(2, '0')}m`;
}

const SIZE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'] as const;

/**
 * Bytes in decimal units, as `docker images` prints them: `0 B`, `512 B`, `1.2 kB`, `48.3 MB`,
 * `182 MB` (no decimal from 100 up, so the column stays narrow).
 */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) bytes = 0;
  if (bytes < 1000) return `${Math.round(bytes)} B`;
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < SIZE_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  // Rounding can carry into the next unit: 999.96 kB prints as 1.0 MB, not 1000 kB.
  let text = value < 100 ? value.toFixed(1) : String(Math.round(value));
  if (Number(text) >= 1000 && unit < SIZE_UNITS.length - 1) {
    unit++;
    text = (Number(text) / 1000).toFixed(1);
  }
  return `${text} ${SIZE_UNITS[unit]}`;
}

/**
 * Cut `text` to at most `width` columns, ending in `…` when cut. Counts code points, not
 * grapheme widths: Dockerfile instructions and build logs are overwhelmingly ASCII, and the
 * Ink rows also set `wrap="truncate-end"` as a net for wide characters.
 */
export function truncate(text: string, width: number): string {
  if (width <= 0) return '';
  const chars = [...text];
  if (chars.length <= width) return text;
  if (width === 1) return '…';
  return chars.slice(0, width - 1).join('') + '…';
}

/** Truncate, then pad with spaces to exactly `width` columns. */
export function fit(text: string, width: number): string {
  const cut = truncate(text, width);
  return cut + ' '.repeat(Math.max(0, width - [...cut].length));
}

/** Number of columns `text` takes, by the same measure as `truncate`. */
export function textWidth(text: string): number {
  return [...text].length;
}

// CSI (colours, cursor moves), OSC (titles, hyperlinks; ended by BEL or ST) and lone ESC pairs.
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\-_]/g;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

/**
 * One line of a step's output made safe to print inside the UI: escape sequences removed
 * (a RUN's colours would otherwise leak past NO_COLOR and break the layout), a carriage-return
 * progress bar reduced to what the terminal would finally show, tabs expanded to 8-column stops.
 */
export function cleanLogLine(line: string): string {
  let s = line.replace(ANSI, '');
  if (s.includes('\r')) {
    const parts = s.split('\r').filter((p) => p.length > 0);
    s = parts.at(-1) ?? '';
  }
  if (s.includes('\t')) {
    let out = '';
    for (const ch of s) {
      if (ch === '\t') out += ' '.repeat(8 - (textWidth(out) % 8));
      else out += ch;
    }
    s = out;
  }
  return s.replace(CONTROL, '').trimEnd();
}

/** True when the plan has more than one stage, so rows need the stage name in their tag. */
export function isMultiStage(steps: readonly Pick<StepInfo, 'stage'>[]): boolean {
  const first = steps[0]?.stage;
  return steps.some((s) => s.stage !== first);
}

/**
 * The `[stage i/n]` tag of a row, as BuildKit prints it: `[3/7]` for a single unnamed stage,
 * `[builder 2/5]` for a named one, `[stage-0 2/5]` for an unnamed stage of a multi-stage build.
 */
export function stageTag(step: Pick<StepInfo, 'stage' | 'stageIndex' | 'stageTotal'>, multiStage: boolean): string {
  const unnamed = /^\d+$/.test(step.stage);
  const name = unnamed ? (multiStage ? `stage-${step.stage}` : '') : step.stage;
  return `[${name ? name + ' ' : ''}${step.stageIndex}/${step.stageTotal}]`;
}

/** `1 hit`, `2 hits`, `0 misses`. */
export function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** A short list of changed files: `src/app.ts, src/b.ts +3 more`. */
export function formatFiles(files: readonly string[], max = 3): string {
  if (files.length === 0) return '(no files)';
  const shown = files.slice(0, max).join(', ');
  return files.length > max ? `${shown} +${files.length - max} more` : shown;
}

/**
 * Whether reporters may colour their output, from the environment. `NO_COLOR` (any non-empty
 * value, per no-color.org) turns colour and every other ANSI style off. chalk 5, which Ink's
 * `<Text color>` goes through, reads `FORCE_COLOR` (`0` disables it) and the TTY, but not
 * `NO_COLOR`, so the UI has to honour that one itself.
 */
export function colorEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const noColor = env['NO_COLOR'];
  return noColor === undefined || noColor === '';
}
