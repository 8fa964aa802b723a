/**
 * Two "machines" for the cache-transfer suites: builds with their own store in a shared rig,
 * the host executor, and a RUN log outside the build (`m/runs.log`, appended to by the
 * Dockerfiles' RUNs through `--build-arg M=…`) that proves which RUNs executed.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Rig } from '../util/rig.js';
import { runCli, type CliResult } from '../util/cli.js';

export function machines(rig: () => Rig, env?: Record<string, string>) {
  return {
    /** The lines the RUNs appended, oldest first. */
    runs: (): string[] => (existsSync(rig().path('m/runs.log')) ? readFileSync(rig().path('m/runs.log'), 'utf8').trim().split('\n') : []),
    /** `stratum build` of context `ctx` with store `store` (both rig-relative). */
    build: (ctx: string, store: string, extra: string[]): Promise<CliResult> =>
      runCli(['build', '--progress=json', '--executor=host', '--build-arg', `M=${rig().path('m')}`, '--cache-dir', rig().path(store), ...extra, rig().path(ctx)], env ? { env } : {}),
  };
}
