/**
 * The one entry point of the terminal UI. The CLI imports this file lazily, only when stdout
 * is a TTY, so that `stratum build --progress=plain` never loads React and Ink.
 */
import { render } from 'ink';
import type { EventBus } from '../../engine/events.js';
import { App } from './App.js';
import { colorEnabled } from './format.js';
import { createBuildStore, type BuildStore } from './store.js';
import type { Mode } from './state.js';

export interface TuiOptions {
  stdout: NodeJS.WriteStream;
  /** Where keys come from; default process.stdin. Without a TTY there, keys are off. */
  stdin?: NodeJS.ReadStream;
  mode: Mode;
  /** `q` or Ctrl-C was pressed. Stop the build or the watcher, then call `unmount()`. */
  onQuit(): void;
  /** `r` (false) or `f` (true: without the cache) was pressed; watch mode only. */
  onRebuild(force: boolean): void;
  /** Style the output. Default: on unless NO_COLOR is set (chalk handles FORCE_COLOR=0). */
  color?: boolean;
  /** A store already subscribed to the bus (the CLI makes one before Ink is loaded, so that
   *  the events emitted meanwhile are in the first frame); default: a new one. */
  store?: BuildStore;
}

export interface Tui {
  /** Render the final frame and release the terminal (raw mode, cursor). The final frame is
   *  written before this returns, so what the caller prints next comes below it. */
  unmount(): void;
  /** Settles once the UI is unmounted and its last frame is written. */
  waitUntilExit(): Promise<void>;
}

/**
 * Mount the UI on `bus`. Mount it before the engine starts emitting: the bus is synchronous
 * and keeps no history. Ctrl-C does not exit by itself (`exitOnCtrlC: false`): it calls
 * `onQuit`, like `q`, so the caller can cancel the running step before the process ends.
 */
export function renderTui(bus: EventBus, opts: TuiOptions): Tui {
  // Subscribed before the first render: no event emitted after renderTui() returns is lost.
  const store = opts.store ?? createBuildStore(bus, opts.mode);
  const app = () => (
    <App
      bus={bus}
      store={store}
      mode={opts.mode}
      color={opts.color ?? colorEnabled(process.env)}
      onQuit={opts.onQuit}
      onRebuild={opts.onRebuild}
    />
  );
  const instance = render(app(), {
    stdout: opts.stdout,
    // Passing `stdin: undefined` would override Ink's default of process.stdin.
    ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}),
    exitOnCtrlC: false,
    patchConsole: false,
  });
  let unmounted = false;
  return {
    unmount() {
      if (unmounted) return;
      unmounted = true;
      // Fold the events still waiting for a frame (build-done, typically) and render them
      // now: Ink's rerender is synchronous, where a store notification would be rendered
      // from a scheduler task, after this unmount. The last frame is then the final state,
      // on the terminal before unmount() returns.
      store.flush();
      instance.rerender(app());
      instance.unmount();
      store.close();
    },
    waitUntilExit: async () => {
      await instance.waitUntilExit();
    },
  };
}
