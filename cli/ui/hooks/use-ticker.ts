import { useEffect, useState } from 'react';

import { SPINNER_FRAMES } from '../frame-text.js';

export { SPINNER_FRAMES };

/**
 * A clock for running rows: re-renders its component every `intervalMs` and returns the
 * spinner frame and the time since `since` (when the live store received the step's start),
 * or since the component mounted when no time is given (a replayed recording). It never reads
 * event timestamps, which a replay would make meaningless.
 */
export function useTicker(intervalMs = 100, since?: number): { frame: string; elapsedMs: number } {
  const [startedAt] = useState(() => since ?? Date.now());
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  const elapsedMs = now - startedAt;
  const frame = SPINNER_FRAMES[Math.floor(elapsedMs / intervalMs) % SPINNER_FRAMES.length] ?? SPINNER_FRAMES[0];
  return { frame, elapsedMs };
}
