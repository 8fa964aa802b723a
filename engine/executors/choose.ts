/**
 * Which executor runs a stage's RUN steps, and making it. The sandbox code is imported only
 * when a RUN actually executes (a build of cache hits never loads it), and the machine's
 * static checks (tools, kernel, sysctls, the store's filesystem: detect.ts) run once per
 * process before the first sandboxed operation: when one fails, the build fails with the
 * reason and the fix (never a silent fallback to the host).
 *
 * The live probe (a user namespace made for nothing: a perl spawn, 10–25 ms here under load,
 * on the way to every first RUN) is not run up front. The first operation's own helper is the
 * probe: it creates the same namespaces before it does anything, and when it cannot, it exits
 * 125 without running the command (engine/sandbox/ns-helper.pl.ts), so nothing ever runs
 * outside the sandbox. Only when a sandbox operation fails at set-up is the probe run, to tell
 * "this machine cannot make the sandbox" (ESANDBOX, with the message and hint the up-front
 * probe gave) from a failure of the step itself.
 */
import type { Store } from '../../cache/store-types.js';
import { EXIT, UserError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { ChainRef, ExecRequest, ExecResult, Executor, ExecutorKind, PreparedRoot } from '../executor-types.js';
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
const probeByStore = new Map<string, Promise<UserError | undefined>>();

/** The sandbox capabilities of this machine for a store, checked once per process (the
 *  static checks only: see the top of this file). */
export function sandboxCaps(store: Store): Promise<SandboxCaps> {
  let p = capsByStore.get(store.root);
  if (!p) {
    p = (async () => {
      const { detectSandbox } = await import('../sandbox/detect.js');
      const r = await detectSandbox({ storeRoot: store.root, probe: false });
      if (!r.ok) throw new UserError('ESANDBOX', r.error.message, r.error.hint, EXIT.io);
      return r.caps;
    })();
    capsByStore.set(store.root, p);
  }
  return p;
}

/** After a sandbox operation failed at set-up: the ESANDBOX error when this machine cannot
 *  make the sandbox's namespaces (the live probe says so), else undefined (the failure is the
 *  step's own). Probed once per process and store. */
export function sandboxUnavailable(store: Store): Promise<UserError | undefined> {
  let p = probeByStore.get(store.root);
  if (!p) {
    p = (async () => {
      const caps = await sandboxCaps(store);
      const { probeSandbox } = await import('../sandbox/detect.js');
      const bad = await probeSandbox(caps);
      return bad ? new UserError('ESANDBOX', bad.message, bad.hint, EXIT.io) : undefined;
    })();
    probeByStore.set(store.root, p);
  }
  return p;
}

/** `op`, with a failure that may be the machine's (not a UserError) checked by the probe. */
async function diagnosed<T>(store: Store, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw (await sandboxUnavailable(store)) ?? err;
  }
}

/** A sandboxed root whose set-up failures (the helper's exit 125, a spawn error, a failed
 *  extraction or snapshot) are diagnosed by the probe. */
function guardRoot(store: Store, root: PreparedRoot): PreparedRoot {
  return {
    kind: root.kind,
    async exec(req: ExecRequest): Promise<ExecResult> {
      const res = await root.exec(req);
      if (!res.ok && !res.cancelled && res.spawnError !== undefined) {
        const unavailable = await sandboxUnavailable(store);
        if (unavailable) throw unavailable;
      }
      return res;
    },
    collect: () => diagnosed(store, () => root.collect()),
    ...(root.committed ? { committed: root.committed.bind(root) } : {}),
    release: () => root.release(),
  };
}

/** The executor's modules (the host executor's child_process, the workspace, the sandbox) are
 *  loaded by its first prepare(): a run of cache hits never pays for them. */
export function makeExecutor(kind: ExecutorKind, store: Store, bus: EventBus, ref: WorkspaceRef): Executor {
  let inner: Promise<Executor> | undefined;
  const load = () =>
    (inner ??= (async () => {
      if (kind === 'host') return (await import('./host.js')).hostExecutor(store, bus, ref);
      // The executor's modules load while the static checks run; as soon as those pass, the
      // first RUN's helper starts (standby.ts), so that perl is ready on the other core by the
      // time the modules, the workspace and the root are (~10–15 ms of this process here).
      const hostMod = import('./host.js');
      const sbMod = import('../sandbox/executor.js');
      for (const m of [hostMod, sbMod]) m.catch(() => undefined); // awaited below
      const [caps, { HelperStandby }] = await Promise.all([sandboxCaps(store), import('../sandbox/standby.js')]);
      const standby = new HelperStandby(caps.tools);
      const [host, sb] = await Promise.all([hostMod, sbMod]);
      return kind === 'sandbox' ? sb.createSandboxExecutor({ store, caps, standby }) : sb.createHostToolsExecutor({ store, caps, standby, workspace: () => host.acquireWorkspace(store, bus, ref) });
    })());
  return {
    kind,
    warm() {
      // Handled here, reported by the prepare() that awaits the same promise.
      load().catch(() => undefined);
    },
    async prepare(chain: ChainRef): Promise<PreparedRoot> {
      const ex = await load();
      if (kind === 'host') return ex.prepare(chain);
      return guardRoot(store, await diagnosed(store, () => ex.prepare(chain)));
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
