/**
 * Plain progress for CI logs and pipes, in BuildKit's shape: a blank line between vertices,
 * numbers only for real vertices (FROM, RUN, COPY, ADD, WORKDIR; ENV, LABEL, CMD… make no
 * layer and print nothing), the failing Dockerfile lines quoted with `>>>`, and final lines
 * naming the outputs and tags:
 *
 *   #2 [build 3/7] COPY src/ ./src/
 *   #2 MISS src/app.ts changed
 *   #2 0.213 compiled 12 files
 *   #2 DONE 0.4s
 *
 *   #3 exporting
 *   #3 naming to webapp:dev done
 *   build 1 done in 0.5s: 1 cached, 1 built
 *
 * Watch cycles get a line too: `watch: 2 files changed (src/a.ts, src/b.ts) → rebuilding from step 6`.
 */
import { readFileSync } from 'node:fs';
import { unreachable, type BuildEvent } from '../../engine/events.js';
import { formatDuration as formatSeconds, formatSize as formatBytes } from '../ui/format.js';

/** Dockerfile lines quoted before the failing one. */
const CONTEXT_LINES = 2;

export interface PlainOptions {
  /** The Dockerfile's text, to quote the failing lines (default: read the file). */
  readSource?: (file: string) => string | undefined;
}

export function plainReporter(write: (line: string) => void, opts: PlainOptions = {}): (e: BuildEvent) => void {
  const readSource = opts.readSource ?? readQuietly;
  const started = new Map<number, number>();
  /** Step index → vertex number; metadata steps have none. */
  const vertex = new Map<number, number>();
  let next = 1;
  let dockerfile: string | undefined;
  let wrote = false;
  const block = (lines: string[]) => {
    if (wrote) write('');
    for (const l of lines) write(l);
    wrote = true;
  };
  const v = (index: number) => vertex.get(index);
  return (e) => {
    switch (e.type) {
      case 'build-start':
        started.clear();
        vertex.clear();
        next = 1;
        dockerfile = e.dockerfile;
        block([`build ${e.build}: ${e.steps.length} steps, target ${e.target}`]);
        return;
      case 'step-start': {
        started.set(e.index, e.time);
        if (e.metadata && !/^FROM\b/i.test(e.instruction)) return;
        const n = next++;
        vertex.set(e.index, n);
        block([`#${n} [${e.stage} ${e.stageIndex}/${e.stageTotal}] ${e.instruction.replace(/\s+/g, ' ')}`]);
        if (e.cached === false && e.reason) write(`#${n} MISS ${e.reason}`);
        return;
      }
      case 'step-log': {
        const n = v(e.index);
        const t = started.get(e.index);
        const secs = t === undefined ? '' : `${((Date.now() - t) / 1000).toFixed(3)} `;
        write(`#${n ?? '?'} ${secs}${e.line}`);
        return;
      }
      case 'step-done': {
        const n = v(e.index);
        if (n === undefined) return;
        if (e.cached) write(`#${n} CACHED${e.savedMs !== undefined && e.savedMs >= 50 ? ` (saved ${formatSeconds(e.savedMs)})` : ''}`);
        else write(`#${n} DONE ${formatSeconds(e.ms)}${e.layer ? ` ${formatBytes(e.size)}` : ''}`);
        return;
      }
      case 'step-failed': {
        let n = v(e.index);
        if (n === undefined) {
          n = next++;
          vertex.set(e.index, n);
          block([`#${n} [${e.stage} ${e.stageIndex}/${e.stageTotal}] ${e.instruction.replace(/\s+/g, ' ')}`]);
        }
        write(`#${n} ERROR: ${e.message}`);
        const tail = e.logTail.slice(-10);
        for (const l of ['------', ` > [${e.stage} ${e.stageIndex}/${e.stageTotal}] ${e.instruction.replace(/\s+/g, ' ')}:`, ...tail, '------']) write(l);
        const quoted = dockerfile !== undefined ? quote(readSource(dockerfile), e.line) : [];
        if (quoted.length) {
          write(`${dockerfile}:${e.line}`);
          write('--------------------');
          for (const q of quoted) write(q);
          write('--------------------');
        }
        if (e.hint) write(`hint: ${e.hint}`);
        return;
      }
      case 'step-cancelled':
        write(`#${v(e.index) ?? '?'} CANCELED after ${formatSeconds(e.ms)}`);
        return;
      case 'build-done': {
        const state = e.ok ? 'done' : e.cancelled ? 'cancelled' : 'FAILED';
        if (e.ok && (e.outputs?.length || e.tags?.length)) {
          const n = next++;
          block([`#${n} exporting${e.image ? ` image ${e.image.slice(0, 12)}` : ''}`]);
          for (const o of e.outputs ?? []) write(`#${n} writing output ${o} done`);
          for (const t of e.tags ?? []) write(`#${n} naming to ${t} done`);
        }
        block([`build ${e.build} ${state} in ${formatSeconds(e.ms)}: ${e.hits} cached, ${e.misses} built${e.savedMs ? `, cache saved ${formatSeconds(e.savedMs)}` : ''}${e.storeSize !== undefined ? `, store ${formatBytes(e.storeSize)}` : ''}`]);
        return;
      }
      case 'watch-state':
        if (e.state === 'watching') block(['watch: waiting for changes (Ctrl-C to stop)']);
        return;
      case 'watch-change': {
        const n = e.files.length;
        block([`watch: ${e.dockerfile ? 'Dockerfile changed' : `${n} file${n === 1 ? '' : 's'} changed (${listed(e.files)})`}${e.fromStep ? ` → rebuilding from step ${e.fromStep}` : ' → rebuilding'}`]);
        return;
      }
      case 'watch-skip': {
        const n = e.files.length;
        block([`watch: ${n} file${n === 1 ? '' : 's'} changed (${listed(e.files)}), no step's key changed → not rebuilding`]);
        return;
      }
      case 'contention': {
        const n = e.index !== undefined ? v(e.index) : undefined;
        write(`${n !== undefined ? `#${n} ` : ''}${e.resource} ${e.name} busy: ${e.waitedMs ? `waited ${formatSeconds(e.waitedMs)} for` : 'using'} slot ${e.slot}`);
        return;
      }
      case 'container-state':
        write(`container ${e.name} (${e.image}): ${e.state}${e.exitCode !== undefined && e.exitCode !== null ? ` (exit ${e.exitCode})` : ''}${e.message ? `: ${e.message}` : ''}`);
        return;
      case 'container-log':
        write(`${e.name} | ${e.line}`);
        return;
      case 'warning':
        write(`warning: ${e.message}`);
        return;
      default:
        unreachable(e);
    }
  };
}

/**
 * BuildKit's quote of a failing instruction: up to two lines before it, then its own lines
 * (continuations included) marked `>>>`, each with its line number.
 */
export function quote(source: string | undefined, line: number): string[] {
  if (source === undefined) return [];
  const lines = source.split('\n').map((l) => l.replace(/\r$/, ''));
  if (line < 1 || line > lines.length) return [];
  let last = line;
  while (last < lines.length && /\\\s*$/.test(lines[last - 1]!)) last++;
  const width = String(last).length;
  const out: string[] = [];
  for (let i = Math.max(1, line - CONTEXT_LINES); i <= last; i++) {
    out.push(`${String(i).padStart(width + 2)} | ${i >= line ? '>>> ' : '    '}${lines[i - 1]}`);
  }
  return out;
}

function readQuietly(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** At most three paths, then a count. */
function listed(files: string[]): string {
  return files.slice(0, 3).join(', ') + (files.length > 3 ? `, +${files.length - 3} more` : '');
}
