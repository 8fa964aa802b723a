import { route } from './routes.js';

export function handle(request) {
  return route(request.path);
}
