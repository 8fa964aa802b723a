/**
 * Registry credentials from docker's config file (`$DOCKER_CONFIG/config.json`, else
 * `~/.docker/config.json`), as the docker CLI reads them: `credHelpers[host]`, else
 * `credsStore`, through `docker-credential-<name> get|store` (the credential-helper protocol:
 * the server URL on stdin, JSON `{ServerURL, Username, Secret}` on stdout), else the
 * `auths` entry (`auth` = base64 `user:password`, or `identitytoken`). `saveCredentials`
 * writes them back the same way (`docker login`), keeping every other key of the file.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { DOCKER_HUB, DOCKER_HUB_API } from './reference.js';

export type Credentials =
  | { username: string; password: string }
  /** An OAuth2 refresh token (docker's `identitytoken`), exchanged at the token realm. */
  | { identityToken: string; username?: string };

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

interface DockerConfigFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
  [key: string]: unknown;
}

/** The config file docker uses. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json');
}

/** The key docker files a registry under: Docker Hub keeps its historic v1 URL. */
export function serverKey(registry: string): string {
  return registry === DOCKER_HUB || registry === DOCKER_HUB_API || registry === 'index.docker.io' ? 'https://index.docker.io/v1/' : registry;
}

/** `https://host:5000/v2/` → `host:5000` (docker's ConvertToHostname). */
function hostOf(key: string): string {
  const noScheme = key.replace(/^[a-z]+:\/\//i, '');
  return noScheme.split('/')[0]!;
}

const HUB_KEYS = new Set(['index.docker.io', 'docker.io', 'registry-1.docker.io']);

function readConfig(path: string): DockerConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as DockerConfigFile) : {};
  } catch {
    throw new Error(`${path} is not valid JSON: fix or remove it`);
  }
}

function entryFor(auths: Record<string, AuthEntry>, registry: string): AuthEntry | undefined {
  const hub = serverKey(registry) !== registry;
  for (const [key, entry] of Object.entries(auths)) {
    const host = hostOf(key);
    if (hub ? HUB_KEYS.has(host) : host === registry) return entry;
  }
  return undefined;
}

function fromEntry(e: AuthEntry | undefined): Credentials | undefined {
  if (!e) return undefined;
  if (e.identitytoken) return { identityToken: e.identitytoken, ...(e.username ? { username: e.username } : {}) };
  if (e.auth) {
    const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (e.username && e.password) return { username: e.username, password: e.password };
  return undefined;
}

const HELPER_TIMEOUT_MS = 15_000;

/** Run `docker-credential-<helper> <action>` with `input` on stdin; stdout, or undefined on failure. */
function runHelper(helper: string, action: 'get' | 'store' | 'erase', input: string, env: NodeJS.ProcessEnv): Promise<{ ok: boolean; stdout: string; stderr: string; missing: boolean }> {
  return new Promise((resolve) => {
    const child = execFile(`docker-credential-${helper}`, [action], { timeout: HELPER_TIMEOUT_MS, env, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      resolve({ ok: !err, stdout, stderr, missing: (err as NodeJS.ErrnoException | null)?.code === 'ENOENT' });
    });
    child.stdin?.on('error', () => {}); // a helper that exits without reading stdin
    child.stdin?.end(input);
  });
}

export interface CredentialOptions {
  /** The config file; dockerConfigPath() by default. */
  configPath?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * The credentials for `registry` (`docker.io`, `localhost:5000`), or undefined when there are
 * none. A helper that says "not found" gives undefined; a helper that is not installed falls
 * back to the `auths` entry, as there may still be one.
 */
export async function lookupCredentials(registry: string, opts: CredentialOptions = {}): Promise<Credentials | undefined> {
  const env = opts.env ?? process.env;
  const config = readConfig(opts.configPath ?? dockerConfigPath(env));
  const helper = config.credHelpers?.[registry] ?? (registry === DOCKER_HUB ? config.credHelpers?.[serverKey(registry)] : undefined) ?? config.credsStore;
  if (helper) {
    const r = await runHelper(helper, 'get', serverKey(registry), env);
    if (r.ok) {
      try {
        const got = JSON.parse(r.stdout) as { Username?: string; Secret?: string };
        if (got.Secret) return got.Username === '<token>' ? { identityToken: got.Secret } : { username: got.Username ?? '', password: got.Secret };
      } catch {
        // An unreadable answer is no credential.
      }
      return undefined;
    }
    if (!r.missing) return fromEntry(entryFor(config.auths ?? {}, registry)); // "credentials not found"
  }
  return fromEntry(entryFor(config.auths ?? {}, registry));
}

/**
 * Store credentials for `registry` as `docker login` does: through the credential helper the
 * config names (and an empty `auths` entry so that tools list the registry), else as a
 * base64 `auth` in `auths`. The file is replaced atomically, mode 0600.
 */
export async function saveCredentials(registry: string, creds: { username: string; password: string }, opts: CredentialOptions = {}): Promise<void> {
  const env = opts.env ?? process.env;
  const path = opts.configPath ?? dockerConfigPath(env);
  const config = readConfig(path);
  const key = serverKey(registry);
  const auths = { ...(config.auths ?? {}) };
  for (const k of Object.keys(auths)) if (k !== key && (serverKey(hostOf(k)) === key || hostOf(k) === registry)) delete auths[k];
  const helper = config.credHelpers?.[registry] ?? config.credsStore;
  if (helper) {
    const r = await runHelper(helper, 'store', JSON.stringify({ ServerURL: key, Username: creds.username, Secret: creds.password }), env);
    if (!r.ok) throw new Error(`docker-credential-${helper} store failed${r.missing ? ' (it is not installed)' : `: ${r.stderr.trim()}`}`);
    auths[key] = {};
  } else {
    auths[key] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  }
  writeConfig(path, { ...config, auths });
}

function writeConfig(path: string, config: DockerConfigFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    writeFileSync(tmp, `${JSON.stringify(config, null, '\t')}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
}
