import type { UserError } from '../errors.js';

/** How a step ended, for the stage runner: go on, stop with an error, or stop cancelled. */
export type StepOutcome =
  | { kind: 'ok' }
  | { kind: 'failed'; error: UserError }
  /** `changed`: stopped because a source changed while it was copied (watch mode: the build
   *  that follows the change replaces this one, BuildOptions.changedIsStale). */
  | { kind: 'cancelled'; changed?: string };

export const OK: StepOutcome = { kind: 'ok' };
