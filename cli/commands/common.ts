/**
 * What the store commands (images, history, inspect, rmi, du, prune, load, cache) share:
 * argument parsing with the usual error shape, opening the store, store errors as user
 * errors, sizes and durations in and out, and docker-style text tables.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createStore, defaultStoreRoot } from '../../cache/store.js';
import type { LocalStore } from '../../cache/store-types.js';
import { EXIT, UserError, toUserError } from '../../engine/errors.js';
import { checkStoreRoot } from '../../engine/preflight.js';
import { usageError } from '../usage.js';
import { flagHint } from '../suggest.js';

export { formatSize } from '../ui/format.js';

export interface CommandIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parse a command's flags (always with --cache-dir and --help); unknown flags are usage errors. */
export function parseCommand<O extends Options>(argv: string[], command: string, options: O) {
  try {
    return parseArgs({ args: argv, options: { ...options, 'cache-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const, allowPositionals: true, strict: true });
  } catch (err) {
    const message = (err as Error).message;
    const hint = flagHint(message, [...Object.keys(options), 'cache-dir', 'help']);
    throw usageError(`${command}: ${message.replace(/\. To specify a positional.*$/s, '')}`, `${hint ? hint + ' ' : ''}run \`stratum ${command} --help\``);
  }
}

/** The store a command works on; `mustExist` commands fail clearly when there is none. */
export function openStore(cacheDir: string | undefined, mustExist = false): LocalStore {
  const root = cacheDir !== undefined ? resolve(cacheDir) : defaultStoreRoot();
  if (mustExist && !existsSync(root)) {
    throw new UserError('NO_STORE', `no store at ${root}`, 'build something first, or pass --cache-dir (or set STRATUM_CACHE_DIR) to the store you mean', EXIT.usage, undefined, root);
  }
  checkStoreRoot(root, false);
  return createStore(root);
}

/** Run a command body, turning store and filesystem errors into user errors. */
export async function withStoreErrors<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toUserError(err) ?? err;
  }
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4 };

/** `512`, `10MB`, `1.5GB` (decimal, as sizes are printed), `2GiB` (binary). */
export function parseSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  return m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : undefined;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

/** Go-style durations as docker takes them: `90s`, `30m`, `24h`, `1h30m`, `7d`. */
export function parseDuration(text: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    end = re.lastIndex;
  }
  return end === text.length && end > 0 ? total : undefined;
}

/** "3 minutes ago", as docker prints CREATED. */
export function formatAge(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return 'N/A';
  const s = Math.max(0, Math.round((now - t) / 1000));
  const unit = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'} ago`;
  if (s < 60) return s < 2 ? 'Less than a second ago' : unit(s, 'second');
  if (s < 3600) return unit(Math.floor(s / 60), 'minute');
  if (s < 86400 * 2) return unit(Math.floor(s / 3600), 'hour');
  if (s < 86400 * 14) return unit(Math.floor(s / 86400), 'day');
  if (s < 86400 * 60) return unit(Math.floor(s / (86400 * 7)), 'week');
  if (s < 86400 * 365 * 2) return unit(Math.floor(s / (86400 * 30)), 'month');
  return unit(Math.floor(s / (86400 * 365)), 'year');
}

/** Columns padded to their widest cell, three spaces apart (docker's table format). */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, [...c].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i]! - [...c].length))).join('   ').trimEnd()).join('\n');
}

/** `webapp:dev` → ['webapp', 'dev']; a digest reference keeps `<none>` as its tag. */
export function repoAndTag(name: string): [string, string] {
  const at = name.indexOf('@');
  const base = at >= 0 ? name.slice(0, at) : name;
  const colon = base.lastIndexOf(':');
  if (colon > base.lastIndexOf('/')) return [base.slice(0, colon), base.slice(colon + 1)];
  return [base, '<none>'];
}

export const shortId = (digest: string) => digest.slice(0, 12);
