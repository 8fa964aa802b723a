/** `stratum watch --run`: the container part (engine/containers/watch-run.ts). */
import { basename } from 'node:path';
import { createHash } from 'node:crypto';
import type { Store } from '../../cache/store-types.js';
import type { EventBus } from '../../engine/events.js';
import type { BuildCliOptions } from '../options.js';
import { containerEnv } from './container-common.js';

const slug = (context: string) => basename(context).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'ctx';

/** The tag `watch --run` builds to when no -t is given: one per context directory. */
export function watchRunTag(context: string): string {
  return `stratum-watch/${slug(context)}-${createHash('sha256').update(context).digest('hex').slice(0, 8)}:latest`;
}

export async function startWatchRun(opts: BuildCliOptions, store: Store, bus: EventBus) {
  const { caps } = await containerEnv(store.root);
  const { ContainerRunner } = await import('../../engine/containers/watch-run.js');
  const r = opts.run!;
  return new ContainerRunner(store, caps, bus, {
    image: opts.tags[0]!,
    name: r.name ?? `${slug(opts.context)}-watch`,
    cmd: [],
    env: r.env,
    envFiles: [],
    volumes: r.volumes,
    tmpfs: [],
    ports: r.publish,
    network: r.network,
    autoRemove: false,
    stopTimeoutS: 5,
    cwd: process.cwd(),
  });
}
