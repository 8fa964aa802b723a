/**
 * Which executor runs a stage's RUN steps, and making it. The sandbox code is imported only
 * when a RUN actually executes (a build of cache hits never loads it), and the machine is
 * checked once per process: when the sandbox cannot start, the build fails with the reason
 * and the fix (never a silent fallback to the host).
 */
import type { Store } from '../../cache/store-types.js';
import { EXIT, UserError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { ChainRef, Executor, ExecutorKind, PreparedRoot } from '../executor-types.js';
import type { Plan } from '../plan.js';
import type { SandboxCaps } from '../sandbox/detect.js';
import type { WorkspaceRef } from './host.js';

/** A chain that starts from scratch has no shell of its own and runs the host's tools (still
 *  sandboxed); anything else runs in the sandbox; `host` opts out of isolation entirely. */
export function executorKind(plan: Plan, stage: number, choice: 'sandbox' | 'host'): ExecutorKind {
  if (choice === 'host') return 'host';
  let st = plan.stages[stage]!;
  while (st.base.kind === 'stage') st = plan.stages[st.base.stage]!;
  return st.base.kind === 'scratch' ? 'host-tools' : 'sandbox';
}

const capsByStore = new Map<string, Promise<SandboxCaps>>();

/** The sandbox capabilities of this machine for a store, detected once per process. */
export function sandboxCaps(store: Store): Promise<SandboxCaps> {
  let p = capsByStore.get(store.root);
  if (!p) {
    p = (async () => {
      const { detectSandbox } = await import('../sandbox/detect.js');
      const r = await detectSandbox({ storeRoot: store.root });
      if (!r.ok) throw new UserError('ESANDBOX', r.error.message, r.error.hint, EXIT.io);
      return r.caps;
    })();
    capsByStore.set(store.root, p);
  }
  return p;
}

/** The executor's modules (the host executor's child_process, the workspace, the sandbox) are
 *  loaded by its first prepare(): a run of cache hits never pays for them. */
export function makeExecutor(kind: ExecutorKind, store: Store, bus: EventBus, ref: WorkspaceRef): Executor {
  let inner: Promise<Executor> | undefined;
  const load = () =>
    (inner ??= (async () => {
      const host = await import('./host.js');
      if (kind === 'host') return host.hostExecutor(store, bus, ref);
      const caps = await sandboxCaps(store);
      const sb = await import('../sandbox/executor.js');
      return kind === 'sandbox' ? sb.createSandboxExecutor({ store, caps }) : sb.createHostToolsExecutor({ store, caps, workspace: () => host.acquireWorkspace(store, bus, ref) });
    })());
  return {
    kind,
    async prepare(chain: ChainRef): Promise<PreparedRoot> {
      return (await load()).prepare(chain);
    },
    async close() {
      if (!inner) return;
      const ex = await inner.catch(() => undefined);
      await ex?.close?.();
      if (kind === 'host') return;
      const { drainSandboxRemovals } = await import('../sandbox/executor.js');
      await drainSandboxRemovals();
    },
  };
}
