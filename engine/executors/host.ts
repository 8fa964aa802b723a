/**
 * The host executor (`--executor=host`): a RUN executes on this machine, in the stage's
 * workspace, a directory where the union view is materialized (engine/workspace.ts). No
 * isolation: paths in the command are host paths, and the command can touch anything the
 * user can. For machines without user namespaces, and opt-in only.
 *
 * Cache mounts are symlinks from the target path to the persistent directory, left out of
 * the snapshot; other mounts need real bind mounts and are refused here.
 */
import { existsSync, lstatSync, mkdirSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Store } from '../../cache/store-types.js';
import type { ChainRef, ExecMount, ExecRequest, ExecResult, Executor, PreparedRoot } from '../executor-types.js';
import { runCommand } from '../executor.js';
import { mergeChain } from '../union-view.js';
import { Workspace, WORKSPACES } from '../workspace.js';
import { MAX_SLOTS } from '../../cache/owned-dirs.js';
import type { EventBus } from '../events.js';

/** Which workspace a stage uses: one id per (context, Dockerfile, stage). */
export interface WorkspaceRef {
  id: string;
  stage: string;
  contextDir: string;
}

export function hostExecutor(store: Store, bus: EventBus, ref: WorkspaceRef): Executor {
  let ws: Workspace | undefined;
  return {
    kind: 'host',
    async prepare(chain: ChainRef): Promise<PreparedRoot> {
      ws ??= await acquireWorkspace(store, bus, ref);
      const w = ws;
      return workspaceRoot('host', w, chain, (req, cwd) =>
        runCommand({
          argv: req.argv,
          cwd,
          env: req.env,
          onLine: req.onLine,
          onSpawn: (pid) => w.recordChild(pid),
          ...(req.signal ? { signal: req.signal } : {}),
          ...(req.killGraceMs !== undefined ? { killGraceMs: req.killGraceMs } : {}),
        }).finally(() => w.recordChild(undefined)),
      );
    },
    close() {
      ws?.release();
      ws = undefined;
    },
  };
}

/** The first free workspace slot of this (project, stage): a second build of the same
 *  project gets its own instead of sharing one; with every slot busy, it waits. */
export async function acquireWorkspace(store: Store, bus: EventBus, ref: WorkspaceRef): Promise<Workspace> {
  const t0 = performance.now();
  let waited = false;
  for (;;) {
    const owned = store.acquireDir(WORKSPACES, ref.id, { slots: MAX_SLOTS, about: [ref.contextDir] });
    if (owned) {
      if (waited || owned.slot > 0) bus.emit({ type: 'contention', resource: 'workspace', name: ref.stage, slot: owned.slot, waitedMs: waited ? Math.round(performance.now() - t0) : 0 });
      return new Workspace(store, owned);
    }
    waited = true;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A workspace prepared for one step, shared by the host and host-tools executors: sync the
 * tree to the chain, run with `spawn`, snapshot by stats. `spawn` gets the request with the
 * script path appended and the host path of the cwd.
 */
export async function workspaceRoot(
  kind: 'host' | 'host-tools',
  ws: Workspace,
  chain: ChainRef,
  spawn: (req: ExecRequest, cwd: string, mounts: ExecMount[]) => Promise<ExecResult>,
): Promise<PreparedRoot> {
  const view = chain.view ?? mergeChain(chain.layers, (d) => ws.store.getLayer(d));
  if (!view) throw new Error('a layer of the chain is missing from the store');
  ws.sync([...chain.layers], chain.chain, view);
  let skip = new Set<string>();
  let failed = false;
  return {
    kind,
    async exec(req) {
      const cwd = resolve(ws.root, req.cwd.replace(/^\/+/, ''));
      mkdirSync(cwd, { recursive: true });
      const argv = [...req.argv];
      if (req.script !== undefined) {
        // Beside the tree, not in it: the script is not part of the layer.
        const file = join(ws.dir, `heredoc-${process.pid}.script`);
        writeFileSync(file, req.script, { mode: 0o755 });
        argv.push(file);
      }
      await ws.beginRun();
      const links = kind === 'host' ? linkCacheMounts(ws.root, req.mounts) : undefined;
      if (links?.refused) {
        failed = true;
        return { ok: false, ms: 0, exitCode: null, signal: null, cancelled: false, spawnError: links.refused, hint: 'bind, tmpfs and secret mounts need the sandbox executor: drop --executor=host' };
      }
      try {
        skip = links?.skip ?? new Set(req.mounts.map((m) => m.target.replace(/^\/+/, '')));
        const res = await spawn({ ...req, argv }, cwd, req.mounts);
        if (!res.ok) failed = true;
        return res;
      } finally {
        links?.release();
      }
    },
    async collect() {
      const snap = ws.snapshot(view, skip);
      return { entries: snap.entries, after: snap.after };
    },
    committed(layers, c) {
      ws.commit(layers, c);
    },
    async release() {
      // A failed or cancelled RUN leaves the tree in an unknown state: the next sync re-reads it.
      if (failed) ws.markDirty();
    },
  };
}

/**
 * Cache mounts on the host: the target path becomes a symlink to the cache directory for the
 * RUN; what the workspace had there is moved aside and put back after, so the snapshot sees
 * the tree as it was. A command that deletes the symlink itself and makes a real directory
 * loses the mount for that run, and its files become part of the layer.
 */
function linkCacheMounts(root: string, mounts: ExecMount[]): { skip: Set<string>; release(): void; refused?: string } {
  const undo: (() => void)[] = [];
  const skip = new Set<string>();
  const release = () => {
    for (const u of undo.reverse()) u();
    undo.length = 0;
  };
  for (const m of mounts) {
    if (m.type !== 'bind' || m.readonly) {
      release();
      return { skip, release, refused: `RUN --mount at ${m.target} needs a real mount, which the host executor cannot make` };
    }
    const rel = m.target.replace(/^\/+/, '');
    if (rel === '') continue; // a cache over the whole root would hide the workspace
    const abs = join(root, rel);
    mkdirSync(dirname(abs), { recursive: true });
    let aside: string | undefined;
    if (existsOrLink(abs)) {
      aside = `${abs}.stratum-aside`;
      rmSync(aside, { recursive: true, force: true });
      renameSync(abs, aside);
    }
    symlinkSync(m.source, abs);
    skip.add(rel);
    undo.push(() => {
      if (existsOrLink(abs) && lstatSync(abs).isSymbolicLink()) unlinkSync(abs);
      if (aside) {
        rmSync(abs, { recursive: true, force: true });
        renameSync(aside, abs);
      }
    });
  }
  return { skip, release };
}

function existsOrLink(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return existsSync(p);
  }
}
