/** A counting HTTP proxy in front of a loopback registry: every request is in `seen`. */
import { startServer, type TestServer } from '../registry/kit.js';

export function startProxy(upstream: () => string): Promise<TestServer> {
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
    res.writeHead(up.status, out);
    res.end(req.method === 'HEAD' ? undefined : bytes);
  });
}
