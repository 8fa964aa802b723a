export function route(path) {
  if (path === '/') return { status: 200, body: 'home' };
  if (path === '/health') return { status: 200, body: 'ok' };
  return { status: 404, body: 'not found' };
}
