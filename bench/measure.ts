/**
 * Interleaved timing: the cases of one comparison run in turn, A B A B …, so that a slow
 * phase of the machine (page cache, a busy neighbour, the ext4 allocator after deletions)
 * hits all of them alike. Setup and teardown are not timed.
 */
import { median } from './stats.js';

export interface Case {
  setup?: () => unknown;
  run: () => unknown;
  teardown?: () => unknown;
}

/** `warmup` untimed rounds, then `rounds` timed ones; per case, its samples in ms. */
export async function interleave(rounds: number, cases: Case[], warmup = 1): Promise<number[][]> {
  const samples = cases.map(() => [] as number[]);
  for (let r = 0; r < warmup + rounds; r++) {
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i]!;
      await c.setup?.();
      const t0 = performance.now();
      await c.run();
      const ms = performance.now() - t0;
      await c.teardown?.();
      if (r >= warmup) samples[i]!.push(ms);
    }
  }
  return samples;
}

/** Medians of `interleave`. */
export async function interleaveMedians(rounds: number, cases: Case[], warmup = 1): Promise<number[]> {
  return (await interleave(rounds, cases, warmup)).map(median);
}
