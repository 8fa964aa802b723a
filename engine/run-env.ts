/**
 * The environment a RUN sees, by executor:
 * - sandbox: the image's ENV and the ARGs in scope, plus Docker's defaults (PATH when the
 *   image sets none, HOME from the user), nothing from the host;
 * - host-tools: an allow-list of the host's variables (PATH, HOME, USER, LANG, LC_*, TERM, TZ,
 *   proxies) plus those `--env-pass` names, overlaid by the image's;
 * - host: the host's whole environment overlaid by the image's (today's behaviour, opt-in).
 * Secrets in the host environment (AWS_SECRET_ACCESS_KEY …) therefore reach a RUN only
 * through `--executor=host` or `--env-pass`.
 */
import type { ExecutorKind } from './executor-types.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const ALLOW = new Set(['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LANGUAGE', 'TERM', 'TZ', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'ALL_PROXY', 'all_proxy', 'TMPDIR']);

export function runEnvironment(
  kind: ExecutorKind,
  image: Record<string, string>,
  host: NodeJS.ProcessEnv,
  opts: { envPass?: readonly string[]; home?: string } = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  if (kind === 'host') {
    for (const [k, v] of Object.entries(host)) if (v !== undefined) env[k] = v;
  } else if (kind === 'host-tools') {
    const pass = new Set(opts.envPass ?? []);
    for (const [k, v] of Object.entries(host)) {
      if (v !== undefined && (ALLOW.has(k) || k.startsWith('LC_') || pass.has(k))) env[k] = v;
    }
  } else {
    env.PATH = DEFAULT_PATH;
    env.HOME = opts.home ?? '/root';
    for (const k of opts.envPass ?? []) if (host[k] !== undefined) env[k] = host[k]!;
  }
  return Object.assign(env, image);
}
