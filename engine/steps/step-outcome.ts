import type { UserError } from '../errors.js';

/** How a step ended, for the stage runner: go on, stop with an error, or stop cancelled. */
export type StepOutcome = { kind: 'ok' } | { kind: 'failed'; error: UserError } | { kind: 'cancelled' };

export const OK: StepOutcome = { kind: 'ok' };
