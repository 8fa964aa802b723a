/**
 * The registry client's HTTP, on node:http and node:https rather than `fetch`.
 *
 * Why not fetch: node's fetch is undici, loaded and compiled on first use (~50 ms of a
 * `--cache-from` build that asks a registry a handful of questions), and its bodies are WHATWG
 * streams, whose per-chunk promise pump cost ~70 ms of CPU per 64 MiB of blobs (bench/findings.md,
 * cache-from). Here a body is the socket's own Node stream, read with `for await`.
 *
 * What it keeps of fetch's behaviour, because the registry code relies on it: keep-alive
 * connections (one pool per scheme, idle sockets unref'd so they never hold the process),
 * redirects followed (up to 10; 303, and 301/302 after a POST, become a GET without a body;
 * the Authorization header is dropped when the redirect leaves the origin, as a blob's
 * redirect to object storage does), the AbortSignal, and a Response-shaped result (status,
 * ok, headers.get, body with cancel, text, json), so a `fetch` can still be injected in its
 * place (tests do). What it does not do: it asks for no content encoding, so a blob arrives
 * as the bytes its digest names, never decoded on the way.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';

export interface HttpInit {
  method: string;
  headers: Record<string, string>;
  /** A Buffer (replayable across a redirect) or a Node stream (sent once). */
  body?: Buffer | Readable;
  signal?: AbortSignal;
  /** For an injected fetch: what it needs to send a streamed body and follow redirects. */
  duplex?: 'half';
  redirect?: 'follow';
}

/** A response body: its chunks, in order; `cancel` lets the rest go (the connection is
 *  reused when the body was complete anyway, closed otherwise). */
export interface HttpBody extends AsyncIterable<Uint8Array> {
  cancel(): Promise<void>;
}

export interface HttpResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  readonly body: HttpBody | null;
  text(): Promise<string>;
  json(): Promise<unknown>;
}

export type HttpLike = (url: string, init: HttpInit) => Promise<HttpResponse>;

const MAX_REDIRECTS = 10;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

let httpAgent: HttpAgent | undefined;
let httpsAgent: Promise<{ agent: HttpsAgent; request: typeof httpRequest }> | undefined;

/** node:https is loaded only for an https:// registry (TLS set-up costs a loopback one nothing). */
function transportFor(u: URL): Promise<{ agent: HttpAgent | HttpsAgent; request: typeof httpRequest }> {
  if (u.protocol === 'http:') return Promise.resolve({ agent: (httpAgent ??= new HttpAgent({ keepAlive: true })), request: httpRequest });
  if (u.protocol !== 'https:') return Promise.reject(new Error(`unsupported URL scheme ${u.protocol}`));
  return (httpsAgent ??= import('node:https').then((m) => ({ agent: new m.Agent({ keepAlive: true }), request: m.request as typeof httpRequest })));
}

async function send(u: URL, method: string, headers: OutgoingHttpHeaders, body: Buffer | Readable | undefined, signal: AbortSignal | undefined): Promise<IncomingMessage> {
  const { agent, request } = await transportFor(u);
  return new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(u, { method, headers, agent, ...(signal ? { signal } : {}) });
    req.once('response', resolve);
    req.once('error', reject);
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else {
      body.once('error', (err) => req.destroy(err));
      body.pipe(req);
    }
  });
}

function withoutHeader(headers: Record<string, string>, ...names: string[]): Record<string, string> {
  const drop = new Set(names);
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !drop.has(k.toLowerCase())));
}

function wrap(msg: IncomingMessage, method: string): HttpResponse {
  const status = msg.statusCode ?? 0;
  // No body can follow: let the (empty) stream end at once, so the socket goes back to the pool.
  const empty = method === 'HEAD' || status === 204 || status === 304;
  if (empty) msg.resume();
  let used = false;
  const body: HttpBody = {
    [Symbol.asyncIterator]() {
      used = true;
      return msg[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
    },
    async cancel() {
      if (msg.complete) msg.resume();
      else msg.destroy();
    },
  };
  const bytes = async (): Promise<Buffer> => {
    if (used) throw new TypeError('the response body was already read');
    const parts: Buffer[] = [];
    for await (const c of body) parts.push(c as Buffer);
    return Buffer.concat(parts);
  };
  return {
    status,
    ok: status >= 200 && status < 300,
    headers: {
      get(name) {
        const v = msg.headers[name.toLowerCase()];
        return v === undefined ? null : Array.isArray(v) ? v.join(', ') : String(v);
      },
    },
    body,
    text: async () => (await bytes()).toString('utf8'),
    json: async () => JSON.parse((await bytes()).toString('utf8')) as unknown,
  };
}

/** One HTTP exchange, redirects followed: the final response, its body unread. */
export async function nodeHttp(url: string, init: HttpInit): Promise<HttpResponse> {
  let target = new URL(url);
  let method = init.method;
  let headers = init.headers;
  let body = init.body;
  for (let hops = 0; ; hops++) {
    const msg = await send(target, method, headers, body, init.signal);
    const status = msg.statusCode ?? 0;
    const location = msg.headers.location;
    if (!REDIRECTS.has(status) || !location || hops >= MAX_REDIRECTS) return wrap(msg, method);
    msg.resume();
    const next = new URL(location, target);
    if (next.origin !== target.origin) headers = withoutHeader(headers, 'authorization');
    if (status === 303 ? method !== 'HEAD' : (status === 301 || status === 302) && method === 'POST') {
      method = 'GET';
      body = undefined;
      headers = withoutHeader(headers, 'content-length', 'content-type');
    } else if (body !== undefined && !Buffer.isBuffer(body)) {
      throw new Error(`HTTP ${status} redirects ${method} ${target.pathname} to ${next.origin}${next.pathname}, and a streamed body cannot be sent twice`);
    }
    target = next;
  }
}
