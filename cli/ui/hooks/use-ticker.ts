import { useEffect, useState } from 'react';

import { SPINNER_FRAMES } from '../frame-text.js';

export { SPINNER_FRAMES };

/**
 * A clock for running rows: re-renders its component every `intervalMs` and returns the
 * spinner frame and the time since the component mounted. A running row mounts when its step
 * starts, so that is the step's elapsed time as the UI saw it; it never reads event
 * timestamps, which a replayed recording would make meaningless.
 */
export function useTicker(intervalMs = 100): { frame: string; elapsedMs: number } {
  const [startedAt] = useState(() => Date.now());
  const [now, setNow] = useState(startedAt);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  const elapsedMs = now - startedAt;
  const frame = SPINNER_FRAMES[Math.floor(elapsedMs / intervalMs) % SPINNER_FRAMES.length] ?? SPINNER_FRAMES[0];
  return { frame, elapsedMs };
}
