/**
 * HTTP to a registry (on node:http, engine/registry/http.ts): the scheme (http:// for loopback and `insecure`
 * hosts, https:// otherwise), authentication (the bearer-token flow of the distribution spec
 * and basic auth, answered from a 401's `WWW-Authenticate`), and bounded retries with
 * exponential backoff on network errors, 429 and 5xx (honouring `Retry-After`, capped).
 *
 * Tokens are cached per host and scope set until they expire; the challenge a host sent is
 * remembered, so later requests to it carry credentials from the first try.
 */
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Credentials } from './docker-config.js';
import { nodeHttp, type HttpLike, type HttpResponse } from './http.js';
import { describe, RegistryError, type RegistryErrorFacts } from './registry-error.js';
import { apiHost, isLoopback } from './reference.js';
import { parseWwwAuthenticate, type Challenge } from './www-authenticate.js';

/** The HTTP function: node:http by default; a `fetch` fits too (tests inject one). */
export type FetchLike = HttpLike;
export type CredentialSource = (registry: string) => Promise<Credentials | undefined> | Credentials | undefined;

export interface TransportOptions {
  /** Plain http:// for every host (true) or for these hosts; loopback hosts always use it. */
  insecure?: boolean | string[];
  /** Credentials per registry; none by default (the client passes docker's config). */
  credentials?: CredentialSource;
  fetch?: FetchLike;
  /** Attempts per request, the first included (default 4). */
  attempts?: number;
  /** First backoff (default 200 ms), doubled per retry, capped at maxBackoffMs (default 5 s). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Time to the response headers, and the longest pause between two body chunks (30 s). */
  timeoutMs?: number;
  userAgent?: string;
}

export interface RequestSpec {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Registry name as in a reference (`docker.io`, `localhost:5000`). */
  registry: string;
  /** A path (`/v2/…`) or an absolute URL (an upload Location). */
  path: string;
  /** Token scopes the request needs, e.g. `repository:a/b:pull`. */
  scopes: string[];
  headers?: Record<string, string>;
  /** A body factory, so that a retry can send the body again. */
  body?: () => Buffer | Readable | undefined;
  /** What error messages name. */
  facts: RegistryErrorFacts;
  /** Do not retry (a request whose body cannot be replayed). */
  once?: boolean;
}

interface Token {
  value: string;
  expires: number;
}

const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);

export class Transport {
  readonly #fetch: FetchLike;
  readonly #opts: TransportOptions;
  readonly #challenges = new Map<string, Challenge>();
  readonly #tokens = new Map<string, Token>();
  readonly #creds = new Map<string, Promise<Credentials | undefined>>();

  constructor(opts: TransportOptions = {}) {
    this.#opts = opts;
    this.#fetch = opts.fetch ?? nodeHttp;
  }

  get timeoutMs(): number {
    return this.#opts.timeoutMs ?? 30_000;
  }

  /** The auth scheme the registry's last challenge asked for (`bearer`, `basic`), if any. */
  authScheme(registry: string): string | undefined {
    return this.#challenges.get(registry)?.scheme;
  }

  /** `http://host` or `https://host` for a registry. */
  baseUrl(registry: string): string {
    const host = apiHost(registry);
    const { insecure } = this.#opts;
    const plain = isLoopback(host) || insecure === true || (Array.isArray(insecure) && (insecure.includes(host) || insecure.includes(registry)));
    return `${plain ? 'http' : 'https'}://${host}`;
  }

  #credentials(registry: string): Promise<Credentials | undefined> {
    let p = this.#creds.get(registry);
    if (!p) {
      p = Promise.resolve(this.#opts.credentials?.(registry));
      this.#creds.set(registry, p);
    }
    return p;
  }

  /** The Authorization header for a request, from what the host's last challenge asked. */
  async #authorization(spec: RequestSpec): Promise<string | undefined> {
    const ch = this.#challenges.get(spec.registry);
    if (!ch) return undefined;
    if (ch.scheme === 'basic') {
      const c = await this.#credentials(spec.registry);
      return c && 'password' in c ? `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` : undefined;
    }
    if (ch.scheme === 'bearer') return `Bearer ${await this.#token(spec, ch)}`;
    return undefined;
  }

  /** A bearer token for the request's scopes, from the cache or the realm. */
  async #token(spec: RequestSpec, ch: Challenge): Promise<string> {
    const key = `${spec.registry} ${[...spec.scopes].sort().join(' ')}`;
    const cached = this.#tokens.get(key);
    if (cached && cached.expires > Date.now()) return cached.value;
    const realm = ch.params.realm;
    const facts = { registry: spec.registry, ...spec.facts };
    if (!realm || !/^https?:\/\//.test(realm)) throw new RegistryError('PROTOCOL', `${describe(facts)}: the registry asks for a bearer token without a usable realm (${JSON.stringify(realm ?? '')})`, facts);
    const url = new URL(realm);
    if (ch.params.service) url.searchParams.set('service', ch.params.service);
    const creds = await this.#credentials(spec.registry);
    let res: HttpResponse;
    if (creds && 'identityToken' in creds) {
      // docker's OAuth2 flow: exchange the refresh token (docker login's identitytoken).
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'stratum', ...(ch.params.service ? { service: ch.params.service } : {}) });
      if (spec.scopes.length) form.set('scope', spec.scopes.join(' '));
      res = await this.#send(url.toString(), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: () => Buffer.from(form.toString()) }, facts);
    } else {
      for (const s of spec.scopes) url.searchParams.append('scope', s);
      const headers: Record<string, string> = {};
      if (creds) headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      res = await this.#send(url.toString(), { method: 'GET', headers }, facts);
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      const reason = res.status === 401 ? 'UNAUTHORIZED' : 'DENIED';
      throw new RegistryError(reason, `${describe(facts)}: the token service ${url.origin} refused ${creds ? 'the credentials' : 'anonymous access'} (HTTP ${res.status})`, { ...facts, status: res.status });
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new RegistryError('PROTOCOL', `${describe(facts)}: the token service ${url.origin} answered HTTP ${res.status}`, { ...facts, status: res.status });
    }
    let body: { token?: string; access_token?: string; expires_in?: number };
    try {
      body = (await res.json()) as typeof body;
    } catch {
      throw new RegistryError('PROTOCOL', `${describe(facts)}: the token service ${url.origin} sent no JSON`, facts);
    }
    const value = body.token ?? body.access_token;
    if (typeof value !== 'string' || !value) throw new RegistryError('PROTOCOL', `${describe(facts)}: the token service ${url.origin} sent no token`, facts);
    // The spec's default lifetime is 60 s; renew 10 s early.
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    this.#tokens.set(key, { value, expires: Date.now() + Math.max(1, seconds - 10) * 1000 });
    return value;
  }

  /** One fetch with retries on network errors, 429 and 5xx. Returns the last response. */
  async #send(url: string, init: { method: string; headers: Record<string, string>; body?: RequestSpec['body'] }, facts: RegistryErrorFacts, once = false): Promise<HttpResponse> {
    const attempts = once ? 1 : Math.max(1, this.#opts.attempts ?? 4);
    let delay = this.#opts.backoffMs ?? 200;
    const cap = this.#opts.maxBackoffMs ?? 5000;
    for (let attempt = 1; ; attempt++) {
      const body = init.body?.();
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(new Error(`no response within ${this.timeoutMs} ms`)), this.timeoutMs);
      let res: HttpResponse | undefined;
      let failure: unknown;
      try {
        res = await this.#fetch(url, {
          method: init.method,
          headers: { 'user-agent': this.#opts.userAgent ?? 'stratum', ...init.headers },
          ...(body !== undefined ? { body, duplex: 'half' } : {}),
          redirect: 'follow',
          signal: ac.signal,
        });
      } catch (err) {
        failure = err;
      } finally {
        clearTimeout(timer);
      }
      const retryable = res === undefined || RETRY_STATUS.has(res.status);
      if (!retryable || attempt >= attempts) {
        if (res) return res;
        const cause = failure instanceof Error ? ((failure.cause as Error | undefined)?.message ?? failure.message) : String(failure);
        throw new RegistryError('UNREACHABLE', `${describe(facts)}: cannot reach ${new URL(url).origin}: ${cause}`, facts);
      }
      let wait = delay;
      const after = res?.headers.get('retry-after');
      if (after && /^\d+$/.test(after)) wait = Math.max(wait, Number(after) * 1000);
      await res?.body?.cancel().catch(() => {});
      await sleep(Math.min(wait, cap));
      delay = Math.min(delay * 2, cap);
    }
  }

  /**
   * Send a request to the registry, authenticating as its 401 asks (once). Returns the
   * response whatever its status, except: unreachable, and 429/5xx after the retries
   * (UNAVAILABLE), which throw.
   */
  async request(spec: RequestSpec): Promise<HttpResponse> {
    const url = /^https?:\/\//.test(spec.path) ? spec.path : `${this.baseUrl(spec.registry)}${spec.path}`;
    const facts: RegistryErrorFacts = { registry: spec.registry, ...spec.facts };
    for (let round = 0; ; round++) {
      const headers: Record<string, string> = { ...spec.headers };
      const auth = await this.#authorization(spec);
      if (auth) headers.authorization = auth;
      const res = await this.#send(url, { method: spec.method, headers, ...(spec.body ? { body: spec.body } : {}) }, facts, spec.once);
      if (RETRY_STATUS.has(res.status)) {
        await res.body?.cancel();
        throw new RegistryError('UNAVAILABLE', `${describe(facts)}: the registry answered HTTP ${res.status} to ${spec.method} ${new URL(url).pathname} after retries`, { ...facts, status: res.status });
      }
      if (res.status !== 401 || round > 0) return res;
      const header = res.headers.get('www-authenticate') ?? '';
      const ch = parseWwwAuthenticate(header).find((c) => c.scheme === 'bearer') ?? parseWwwAuthenticate(header).find((c) => c.scheme === 'basic');
      const before = this.#challenges.get(spec.registry);
      if (!ch) return res;
      if (ch.scheme === 'basic' && !(await this.#credentials(spec.registry))) return res;
      // A second 401 to the same challenge with credentials already sent: give up.
      if (before && auth && before.scheme === ch.scheme && ch.scheme === 'basic') return res;
      await res.body?.cancel();
      this.#challenges.set(spec.registry, ch);
      if (ch.scheme === 'bearer') this.#dropTokens(spec);
    }
  }

  #dropTokens(spec: RequestSpec): void {
    this.#tokens.delete(`${spec.registry} ${[...spec.scopes].sort().join(' ')}`);
  }
}

/** `repository:<repo>:pull` / `:pull,push`. */
export function repoScope(repository: string, actions: 'pull' | 'pull,push'): string {
  return `repository:${repository}:${actions}`;
}

/** Map a final non-2xx response to a RegistryError (after reading the registry's error text). */
export async function statusError(res: HttpResponse, what: string, facts: RegistryErrorFacts): Promise<RegistryError> {
  let detail = '';
  try {
    const text = await res.text();
    const json = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    detail = (json.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
  } catch {
    // no error body
  }
  const status = res.status;
  const reason = status === 401 ? 'UNAUTHORIZED' : status === 403 ? 'DENIED' : status === 404 ? 'NOT_FOUND' : 'PROTOCOL';
  const said = detail ? ` (${detail})` : '';
  return new RegistryError(reason, `${describe(facts)}: ${what}: HTTP ${status}${said}`, { ...facts, status });
}
