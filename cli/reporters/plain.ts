/**
 * Plain progress for CI logs and pipes: one line per event, in BuildKit's shape:
 *   #4 [build 3/7] COPY src/ ./src/
 *   #4 MISS src/app.ts changed
 *   #4 0.213 compiled 12 files
 *   #4 DONE 0.4s
 * Watch cycles get a line too: `watch: 2 files changed (src/a.ts, src/b.ts) → rebuilding from step 6`.
 */
import { unreachable, type BuildEvent } from '../../engine/events.js';
import { formatDuration as formatSeconds, formatSize as formatBytes } from '../ui/format.js';

export function plainReporter(write: (line: string) => void): (e: BuildEvent) => void {
  const started = new Map<number, number>();
  return (e) => {
    switch (e.type) {
      case 'build-start':
        started.clear();
        write(`#0 build ${e.build}: ${e.steps.length} steps, target ${e.target}`);
        return;
      case 'step-start':
        started.set(e.index, e.time);
        write(`#${e.index} [${e.stage} ${e.stageIndex}/${e.stageTotal}] ${e.instruction.replace(/\s+/g, ' ')}`);
        if (e.cached === false && e.reason) write(`#${e.index} MISS ${e.reason}`);
        return;
      case 'step-log': {
        const t = started.get(e.index);
        const secs = t === undefined ? '' : `${((Date.now() - t) / 1000).toFixed(3)} `;
        write(`#${e.index} ${secs}${e.line}`);
        return;
      }
      case 'step-done':
        if (e.metadata) write(`#${e.index} DONE ${formatSeconds(e.ms)}`);
        else if (e.cached) write(`#${e.index} CACHED${e.savedMs ? ` (saved ${formatSeconds(e.savedMs)})` : ''}`);
        else write(`#${e.index} DONE ${formatSeconds(e.ms)}${e.layer ? ` ${formatBytes(e.size)}` : ''}`);
        return;
      case 'step-failed':
        write(`#${e.index} ERROR ${e.message}`);
        if (e.hint) write(`#${e.index} hint: ${e.hint}`);
        return;
      case 'step-cancelled':
        write(`#${e.index} CANCELED after ${formatSeconds(e.ms)}`);
        return;
      case 'build-done': {
        const state = e.ok ? 'done' : e.cancelled ? 'cancelled' : 'FAILED';
        write(`build ${e.build} ${state} in ${formatSeconds(e.ms)}: ${e.hits} cached, ${e.misses} built${e.savedMs ? `, cache saved ${formatSeconds(e.savedMs)}` : ''}${e.storeSize !== undefined ? `, store ${formatBytes(e.storeSize)}` : ''}`);
        return;
      }
      case 'watch-state':
        if (e.state === 'watching') write('watch: waiting for changes (Ctrl-C to stop)');
        return;
      case 'watch-change': {
        const shown = e.files.slice(0, 3).join(', ') + (e.files.length > 3 ? `, +${e.files.length - 3} more` : '');
        const n = e.files.length;
        write(`watch: ${e.dockerfile ? 'Dockerfile changed' : `${n} file${n === 1 ? '' : 's'} changed (${shown})`}${e.fromStep ? ` → rebuilding from step ${e.fromStep}` : ' → rebuilding'}`);
        return;
      }
      case 'watch-skip': {
        const n = e.files.length;
        write(`watch: ${n} file${n === 1 ? '' : 's'} changed (${listed(e.files)}), no step's key changed → not rebuilding`);
        return;
      }
      case 'contention':
        write(`${e.index !== undefined ? `#${e.index} ` : ''}${e.resource} ${e.name} busy: ${e.waitedMs ? `waited ${formatSeconds(e.waitedMs)} for` : 'using'} slot ${e.slot}`);
        return;
      case 'warning':
        write(`warning: ${e.message}`);
        return;
      default:
        unreachable(e);
    }
  };
}

/** At most three paths, then a count. */
function listed(files: string[]): string {
  return files.slice(0, 3).join(', ') + (files.length > 3 ? `, +${files.length - 3} more` : '');
}
