/** `stratum watch`: rebuild on every change; the Ink UI on a terminal, plain or NDJSON otherwise. */
import { EventBus } from '../../engine/events.js';
import { EXIT, formatError } from '../../engine/errors.js';
import { Watcher } from '../../engine/watch.js';
import { preflight } from '../../engine/preflight.js';
import { createStore, defaultStoreRoot } from '../../cache/store.js';
import type { BuildCliOptions } from '../options.js';
import { attachReporter } from '../reporters/attach.js';
import { engineOptions, resolveProgress, type Io } from './build.js';

export async function watchCommand(opts: BuildCliOptions, io: Io): Promise<number> {
  const store = createStore(opts.cacheDir ?? defaultStoreRoot());
  // --run needs a tag to start containers from: the first -t, else one named after the context.
  if (opts.run && !opts.tags.length) opts = { ...opts, tags: [(await import('./watch-run.js')).watchRunTag(opts.context)] };
  // A bad store, -t or -o ends the session before it starts, rather than failing every cycle.
  await preflight({ store, tags: opts.tags, outputs: opts.outputs });
  const bus = new EventBus((err) => io.stderr.write(`stratum: reporter error: ${String(err)}\n`));
  const mode = resolveProgress(opts.progress, io.stdout);
  const watcher = new Watcher({
    ...engineOptions(opts, store, bus, mode),
    ...(opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {}),
  });
  // A failed build's error, as `stratum build` prints it (the Ink UI shows it in its header).
  if (mode !== 'tty') bus.on((e) => void (e.type === 'build-done' && e.error && io.stderr.write(formatError(e.error) + '\n')));
  const tui = await attachReporter(bus, mode, io, { mode: 'watch', onQuit: () => void watcher.stop(), onRebuild: (force) => watcher.rebuild(force) });
  const runner = opts.run ? await (await import('./watch-run.js')).startWatchRun(opts, store, bus) : undefined;
  const stop = () => void watcher.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await watcher.start();
  } finally {
    await runner?.stop();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await tui?.unmount();
  }
  // Quitting is how a watch session ends: success.
  return EXIT.ok;
}
