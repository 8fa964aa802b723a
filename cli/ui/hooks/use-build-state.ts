import { useEffect, useState, useSyncExternalStore } from 'react';
import type { EventBus } from '../../../engine/events.js';
import type { Mode, UiState } from '../state.js';
import { createBuildStore, type BuildStore, type BuildStoreOptions } from '../store.js';

export interface BuildStateOptions extends BuildStoreOptions {
  /** A store the caller made (and will close) on the same bus; by default the hook makes its own. */
  store?: BuildStore;
}

/**
 * Subscribe to the engine's events and return the folded UI state, re-rendering at most
 * `maxFps` (default 30) times a second however fast events come (see `createBuildStore`).
 *
 * The hook's own store subscribes to `bus` during the first render, not in an effect, so the
 * events a caller emits right after `render()` are not lost; it unsubscribes on unmount. The
 * bus and mode are read once: remount (change the `key`) to follow another bus.
 */
export function useBuildState(bus: EventBus, mode: Mode, options: BuildStateOptions = {}): UiState {
  const [own] = useState(() => (options.store ? undefined : createBuildStore(bus, mode, options)));
  const store = options.store ?? own!;
  useEffect(() => () => own?.close(), [own]);
  return useSyncExternalStore(store.subscribe, store.getState);
}
