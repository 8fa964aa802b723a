/**
 * verify and prune run as ordered lists of named, timed steps (cacache lib/verify.js), so
 * `stratum cache verify` can show where the time went.
 */
export interface TimedStep {
  name: string;
  ms: number;
}

/** Run `fn` as the step `name`, appending its duration (0.1 ms resolution) to `steps`. */
export function step<T>(steps: TimedStep[], name: string, fn: () => T): T {
  const t0 = performance.now();
  try {
    return fn();
  } finally {
    steps.push({ name, ms: Math.round((performance.now() - t0) * 10) / 10 });
  }
}
