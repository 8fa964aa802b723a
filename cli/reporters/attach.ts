/** Subscribe the reporter a progress mode asks for; the Ink UI is loaded only for 'tty'. */
import type { EventBus } from '../../engine/events.js';
import { plainReporter } from './plain.js';
import { jsonReporter } from './json.js';

export interface Streams {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
}

export interface TuiHandlers {
  mode: 'build' | 'watch';
  onQuit(): void;
  onRebuild(force: boolean): void;
}

/** JSON goes to stdout (it is the product); plain lines go to stderr, as BuildKit's do. */
export async function attachReporter(bus: EventBus, mode: 'tty' | 'plain' | 'json', io: Streams, tui: TuiHandlers): Promise<{ unmount(): void } | undefined> {
  if (mode === 'json') bus.on(jsonReporter((l) => io.stdout.write(l + '\n')));
  else if (mode === 'plain') bus.on(plainReporter((l) => io.stderr.write(l + '\n')));
  else {
    // Loading Ink (and yoga's layout engine) takes 340–420 ms on the project's 2-core
    // machines, longer than a whole cached build: the header's first line is painted at once,
    // as the UI's own first line reads, and Ink's first frame replaces it (render.tsx clears it).
    if (io.stdout.isTTY) io.stdout.write(`stratum ${tui.mode} · starting`);
    const { renderTui } = await import('../ui/render.js');
    return renderTui(bus, { stdout: io.stdout, stdin: io.stdin, ...tui });
  }
  return undefined;
}
