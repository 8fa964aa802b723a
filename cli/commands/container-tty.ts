/**
 * The user's terminal for `run -it`, `exec -it` and `start -ai`: raw mode while the container
 * runs (so Ctrl-C, Ctrl-Z and Ctrl-\ reach the container's pty as bytes, and its line
 * discipline, not stratum, turns them into signals), the window size at start and on every
 * SIGWINCH, restored on the way out.
 */
import { EXIT, UserError } from '../../engine/errors.js';

export interface Terminal {
  rows: number;
  cols: number;
  onResize(fn: (rows: number, cols: number) => void): () => void;
  restore(): void;
}

export function openTerminal(command: string, interactive: boolean): Terminal {
  const stdin = process.stdin;
  if (interactive && !stdin.isTTY) throw new UserError('USAGE', `${command}: the input device is not a TTY`, 'drop -t to pipe input (with -i), or run it from a terminal', EXIT.usage);
  const out = process.stdout.isTTY ? process.stdout : process.stderr.isTTY ? process.stderr : undefined;
  let raw = false;
  if (interactive && stdin.isTTY) {
    stdin.setRawMode(true);
    raw = true;
  }
  const restore = () => {
    if (!raw) return;
    raw = false;
    try {
      stdin.setRawMode(false);
    } catch {
      // the terminal is gone
    }
    stdin.pause();
  };
  process.once('exit', restore);
  return {
    rows: out?.rows ?? 24,
    cols: out?.columns ?? 80,
    onResize(fn) {
      if (!out) return () => undefined;
      const h = () => fn(out.rows, out.columns);
      out.on('resize', h);
      return () => out.off('resize', h);
    },
    restore,
  };
}
