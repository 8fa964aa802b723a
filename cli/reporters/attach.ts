/** Subscribe the reporter a progress mode asks for; the Ink UI is loaded only for 'tty'. */
import type { BuildEvent, EventBus } from '../../engine/events.js';
import { plainReporter } from './plain.js';
import { jsonReporter } from './json.js';
import { importEsm } from '../esm-import.js';

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

export interface AttachedUi {
  /** Leave the final frame on the terminal and release it; what the caller prints next comes
   *  below. Safe to call twice. */
  unmount(): Promise<void>;
}

/**
 * A build that is still running this long after start loads Ink (its log panel, its keys).
 * One that ends sooner, a cached build typically, never loads it: the early frame is its UI.
 */
const LOAD_INK_AFTER_MS = 250;

/** JSON goes to stdout (it is the product); plain lines go to stderr, as BuildKit's do. */
export async function attachReporter(bus: EventBus, mode: 'tty' | 'plain' | 'json', io: Streams, tui: TuiHandlers): Promise<AttachedUi | undefined> {
  if (mode === 'json') bus.on(jsonReporter((l) => io.stdout.write(l + '\n')));
  else if (mode === 'plain') bus.on(plainReporter((l) => io.stderr.write(l + '\n')));
  else return attachTui(bus, io, tui);
  return undefined;
}

/**
 * The terminal UI, painted from the first event on. Loading Ink, React and yoga takes
 * 80–110 ms bundled and 370–600 ms unbundled on the project's 2-core machines
 * (scripts/bundle-ui.mjs), longer than a whole cached build; so the store is subscribed at
 * once, the early painter draws the real frame (header, step rows) with plain ANSI, and Ink
 * is loaded only when the build needs it: in watch mode at once (in the background), in
 * build mode when a step runs that is not a cache hit or after LOAD_INK_AFTER_MS. Ink then
 * takes over from the same store, where the early frame was erased.
 */
async function attachTui(bus: EventBus, io: Streams, tui: TuiHandlers): Promise<AttachedUi> {
  const [{ createBuildStore }, { startEarlyPainter }, { colorEnabled }] = await Promise.all([import('../ui/store.js'), import('./early-painter.js'), import('../ui/format.js')]);
  const store = createBuildStore(bus, tui.mode);
  const color = colorEnabled(process.env);
  // Not a terminal (`--progress=tty > file`): no cursor moves, Ink as it was.
  if (!io.stdout.isTTY) {
    const ink = (await loadRenderer()).renderTui(bus, { stdout: io.stdout, stdin: io.stdin, ...tui, store, color });
    return { unmount: async () => ink.unmount() };
  }
  const painter = startEarlyPainter(store, io.stdout, color);
  let ink: { unmount(): void } | undefined;
  let loading: Promise<{ unmount(): void }> | undefined;
  let unmounted = false;
  const load = () =>
    (loading ??= loadRenderer().then(({ renderTui }) => {
      painter.handOver();
      ink = renderTui(bus, { stdout: io.stdout, stdin: io.stdin, ...tui, store, color });
      if (unmounted) ink.unmount();
      return ink;
    }));
  const timer = setTimeout(() => void load(), tui.mode === 'watch' ? 0 : LOAD_INK_AFTER_MS);
  const needsInk = (e: BuildEvent) => e.type === 'step-start' && !e.cached && !e.metadata;
  const off = bus.on((e) => {
    if (needsInk(e)) void load();
  });
  return {
    async unmount() {
      if (unmounted) return;
      unmounted = true;
      clearTimeout(timer);
      off();
      if (loading === undefined) {
        store.flush();
        const s = store.getState();
        // A build that ended well needs no panel: the early frame's final state is the UI's.
        if (s.phase === 'done' && s.last?.ok && s.failure === undefined && s.last.error === undefined) {
          painter.finish();
          store.close();
          return;
        }
      }
      (await load()).unmount();
    },
  };
}

/** The UI's single-file bundle when the build made one (scripts/bundle-ui.mjs), else the modules. */
async function loadRenderer(): Promise<typeof import('../ui/render.js')> {
  try {
    return (await importEsm(new URL('../ui/render.bundle.js', import.meta.url).href)) as typeof import('../ui/render.js');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    return (await importEsm(new URL('../ui/render.js', import.meta.url).href)) as typeof import('../ui/render.js');
  }
}
