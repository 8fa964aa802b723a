/** A counting HTTP proxy in front of a loopback registry: every request is in `seen`. With
 *  `tamper`, it lies about the blobs it names: flips a byte (a wrong digest), or sends half
 *  and drops the connection (a truncated download, every time, so resumes cannot save it). */
import { startServer, type TestServer } from '../registry/kit.js';

export type Tamper = (method: string, url: string) => 'flip' | 'truncate' | '404' | undefined;

export function startProxy(upstream: () => string, tamper?: Tamper): Promise<TestServer> {
  return startServer(async (req, res, body) => {
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'connection' && k !== 'content-length').map(([k, v]) => [k, String(v)]));
    const up = await fetch(`http://${upstream()}${req.url}`, { method: req.method!, headers, redirect: 'manual', ...(body.length || req.method === 'PUT' || req.method === 'PATCH' || req.method === 'POST' ? { body } : {}) });
    const bytes = Buffer.from(await up.arrayBuffer());
    const out: Record<string, string> = {};
    up.headers.forEach((v, k) => {
      if (k !== 'content-encoding' && k !== 'transfer-encoding' && k !== 'connection') out[k] = v;
    });
    // Upload locations point at the registry: send the client back through the proxy.
    if (out.location) out.location = out.location.replace(upstream(), req.headers.host ?? '');
    const lie = up.status < 300 && req.method === 'GET' ? tamper?.(req.method, req.url ?? '') : undefined;
    if (lie === '404') return void res.writeHead(404).end();
    if (lie === 'flip' && bytes.length) bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff;
    res.writeHead(up.status, out);
    if (lie === 'truncate') {
      res.write(bytes.subarray(0, bytes.length >> 1));
      return void res.destroy();
    }
    res.end(req.method === 'HEAD' ? undefined : bytes);
  });
}
