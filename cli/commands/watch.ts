/** `stratum watch`: rebuild on every change; the Ink UI on a terminal, plain or NDJSON otherwise. */
import { EventBus } from '../../engine/events.js';
import { EXIT } from '../../engine/errors.js';
import { Watcher } from '../../engine/watch.js';
import { createStore, defaultStoreRoot } from '../../cache/store.js';
import type { BuildCliOptions } from '../options.js';
import { plainReporter } from '../reporters/plain.js';
import { jsonReporter } from '../reporters/json.js';
import { resolveProgress, type Io } from './build.js';

export async function watchCommand(opts: BuildCliOptions, io: Io): Promise<number> {
  const store = createStore(opts.cacheDir ?? defaultStoreRoot());
  const bus = new EventBus((err) => io.stderr.write(`stratum: reporter error: ${String(err)}\n`));
  const mode = resolveProgress(opts.progress, io.stdout);
  if (mode === 'json') bus.on(jsonReporter((l) => io.stdout.write(l + '\n')));
  else if (mode === 'plain') {
    const plain = plainReporter((l) => io.stderr.write(l + '\n'));
    bus.on((e) => {
      plain(e);
      // Plain mode has no failure panel: print the failed step's output tail and hint.
      if (e.type === 'step-failed') {
        for (const l of e.logTail.slice(-20)) io.stderr.write(`#${e.index}   | ${l}\n`);
        if (e.hint) io.stderr.write(`#${e.index} hint: ${e.hint}\n`);
      }
    });
  }
  const watcher = new Watcher({
    store,
    bus,
    contextDir: opts.context,
    dockerfile: opts.dockerfile,
    buildArgs: opts.buildArgs,
    ...(opts.target !== undefined ? { target: opts.target } : {}),
    noCache: opts.noCache,
    tags: opts.tags,
    outputs: opts.outputs,
    ...(opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {}),
  });
  let tui: { unmount(): void } | undefined;
  if (mode === 'tty') {
    const { renderTui } = await import('../ui/render.js');
    tui = renderTui(bus, {
      stdout: io.stdout,
      stdin: io.stdin,
      mode: 'watch',
      onQuit: () => void watcher.stop(),
      onRebuild: (force) => watcher.rebuild(force),
    });
  }
  const stop = () => void watcher.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await watcher.start();
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    tui?.unmount();
  }
  // Quitting is how a watch session ends: success.
  return EXIT.ok;
}
