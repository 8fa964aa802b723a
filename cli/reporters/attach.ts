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
    const { renderTui } = await import('../ui/render.js');
    return renderTui(bus, { stdout: io.stdout, stdin: io.stdin, ...tui });
  }
  return undefined;
}
