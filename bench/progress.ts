/**
 * Progress of a benchmark on stderr: a redrawn bar on a terminal, one plain line per
 * measured run otherwise (CI logs, pipes). stdout stays free for the results (and `--json`).
 * Engine-free.
 */
export interface Progress {
  /** A unit of work started (`label` is shown beside the bar). */
  start(label: string): void;
  /** It finished; `line` is printed in plain mode (and kept out of the bar). */
  done(line?: string): void;
  /** Print a line above the bar (or plainly). */
  note(line: string): void;
  /** Erase the bar. */
  end(): void;
}

export function createProgress(stream: NodeJS.WriteStream, total: number, opts: { tty?: boolean; prefix?: string } = {}): Progress {
  const tty = opts.tty ?? (stream.isTTY === true && process.env.TERM !== 'dumb');
  const prefix = opts.prefix ?? 'bench';
  let finished = 0;
  let label = '';
  let drawn = false;
  const t0 = performance.now();
  const draw = () => {
    if (!tty) return;
    const cols = Math.max(40, stream.columns || 80);
    const width = Math.min(30, cols - 40);
    const filled = total > 0 ? Math.round((finished / total) * width) : 0;
    const secs = ((performance.now() - t0) / 1000).toFixed(0);
    const text = `${prefix} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${finished}/${total} ${secs}s ${label}`;
    stream.write(`\r\x1b[2K${text.slice(0, cols - 1)}`);
    drawn = true;
  };
  const clear = () => {
    if (tty && drawn) stream.write('\r\x1b[2K');
    drawn = false;
  };
  return {
    start(l) {
      label = l;
      draw();
    },
    done(line) {
      finished++;
      if (!tty && line) stream.write(`${prefix}: ${line}\n`);
      draw();
    },
    note(line) {
      clear();
      stream.write(`${prefix}: ${line}\n`);
      draw();
    },
    end() {
      clear();
    },
  };
}
