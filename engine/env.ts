/**
 * Every environment input stratum reads, read and validated in one place. A bad value is a
 * usage error (exit 2) that names the variable, the value and the form expected, before
 * anything is built; nothing else in the code reads these variables from `process.env`.
 *
 * | variable              | form                                   |
 * |-----------------------|----------------------------------------|
 * | SOURCE_DATE_EPOCH     | whole seconds since 1970, e.g. 1700000000 |
 * | STRATUM_CACHE_DIR     | a directory (the store)                |
 * | STRATUM_EXECUTOR      | sandbox or host                        |
 * | STRATUM_JOBS          | a positive integer                     |
 * | STRATUM_STORE_FAULT   | kill@N or throw@N (tests only)         |
 *
 * An empty value counts as unset, as shells make `VAR=` easy to write by accident.
 */
import { resolve } from 'node:path';
import { parseFault } from '../cache/fs.js';
import { EXIT, UserError } from './errors.js';

export type Executor = 'sandbox' | 'host';

export interface StratumEnv {
  /** Seconds; every `created` timestamp and exported mtime uses it when set. */
  sourceDateEpoch?: number;
  /** Absolute. */
  cacheDir?: string;
  executor?: Executor;
  jobs?: number;
  storeFault?: string;
}

/** The variables readEnv knows, for docs and for tests. */
export const ENV_VARS = ['SOURCE_DATE_EPOCH', 'STRATUM_CACHE_DIR', 'STRATUM_EXECUTOR', 'STRATUM_JOBS', 'STRATUM_STORE_FAULT'] as const;

function invalid(name: string, value: string, expected: string, example: string): UserError {
  return new UserError('ENV_INVALID', `environment variable ${name}=${JSON.stringify(value)} is invalid: expected ${expected}`, `set it to ${example}, or unset it (unset ${name})`, EXIT.usage);
}

const set = (env: NodeJS.ProcessEnv, name: string): string | undefined => {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
};

/** Largest epoch a JS Date (and so an RFC 3339 timestamp) can hold: 8.64e15 ms. */
const MAX_EPOCH = 8.64e12;

/** SOURCE_DATE_EPOCH (reproducible-builds.org): a non-negative integer number of seconds. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = set(env, 'SOURCE_DATE_EPOCH');
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n > MAX_EPOCH) throw invalid('SOURCE_DATE_EPOCH', raw, 'whole seconds since 1970-01-01 UTC (a non-negative integer)', 'SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)');
  return n;
}

/** Read and check every variable; throws the first invalid one as a UserError (ENV_INVALID). */
export function readEnv(env: NodeJS.ProcessEnv = process.env): StratumEnv {
  const out: StratumEnv = {};
  const epoch = sourceDateEpoch(env);
  if (epoch !== undefined) out.sourceDateEpoch = epoch;

  const cacheDir = set(env, 'STRATUM_CACHE_DIR');
  if (cacheDir !== undefined) {
    if (cacheDir.includes('\0')) throw invalid('STRATUM_CACHE_DIR', cacheDir, 'a directory path', 'STRATUM_CACHE_DIR=$HOME/.cache/stratum');
    out.cacheDir = resolve(cacheDir);
  }

  const executor = set(env, 'STRATUM_EXECUTOR');
  if (executor !== undefined) {
    if (executor !== 'sandbox' && executor !== 'host') throw invalid('STRATUM_EXECUTOR', executor, '"sandbox" or "host"', 'STRATUM_EXECUTOR=sandbox');
    out.executor = executor;
  }

  const jobs = set(env, 'STRATUM_JOBS');
  if (jobs !== undefined) {
    const n = Number(jobs);
    if (!/^\d+$/.test(jobs) || n < 1 || !Number.isSafeInteger(n)) throw invalid('STRATUM_JOBS', jobs, 'a positive integer', 'STRATUM_JOBS=4');
    out.jobs = n;
  }

  const fault = set(env, 'STRATUM_STORE_FAULT');
  if (fault !== undefined) {
    if (!parseFault(fault)) throw invalid('STRATUM_STORE_FAULT', fault, 'kill@N or throw@N with N ≥ 1 (a test hook)', 'STRATUM_STORE_FAULT=throw@3');
    out.storeFault = fault;
  }
  return out;
}

let cached: StratumEnv | undefined;

/** `readEnv(process.env)`, read once per process (the environment does not change under us). */
export function stratumEnv(): StratumEnv {
  return (cached ??= readEnv(process.env));
}
