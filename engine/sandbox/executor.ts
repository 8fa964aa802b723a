/**
 * The `sandbox` and `host-tools` executors (engine/executor-types.ts).
 *
 * sandbox: prepare(chain) extracts each layer once (extract.ts) and lays out a run directory
 * on the store's filesystem:
 *
 *   dirs/sandbox-runs/…/<pid>-<random>/
 *     u/ w/        overlay upperdir and workdir (the upper is the layer)
 *     m/           the mount point of the root
 *     l/0…         short symlinks to the chain's layers when their names do not fit the
 *                  page-sized mount options (~200+ layers); the kernel's limit is 500 lowers
 *     i<k>/        the init layer of exec k (below)
 *     resolv.conf hosts   per-run copies of the host's, bound into the root
 *
 * The init layer is the topmost lowerdir and holds only the mount points the chain lacks
 * (proc, dev, tmp, etc/resolv.conf, etc/hosts, ExecMount targets), with the chain's mode and
 * owner for any directory it shares with it (as Docker's init layer). Mounting over them
 * therefore writes nothing to the upper: no mount point leaks into a layer.
 *
 * host-tools: the stage's workspace (engine/workspace.ts) is synced to the chain, the host
 * root is mounted read-only with the workspace bound read-write at its own path, and the
 * snapshot is the workspace's. The engine filters the environment; this adds nothing.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, chmodSync, chownSync, rmdirSync, unlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, posix } from 'node:path';
import type { ChainDigest, LayerDigest } from '../../cache/digest.js';
import type { LayerEntry } from '../../cache/layer-types.js';
import type { Store } from '../../cache/store-types.js';
import type { ChainRef, ExecMount, ExecRequest, ExecResult, Executor, PreparedRoot } from '../executor-types.js';
import { mergeChain, type ViewReader } from '../union-view.js';
import type { ViewLike, Workspace } from '../workspace.js';
import type { SandboxCaps } from './detect.js';
import { buildTree, extractLayer, layersDir } from './extract.js';
import { removeInNs } from './ns.js';
import { runInSandbox } from './run.js';
import { snapshotUpper, upperChanges, UpperRecords } from './snapshot.js';
import type { HelperStandby } from './standby.js';

/** What a killed stratum left (run dirs of dead pids and their uppers, trash), removed in the
 *  background the first time an executor prepares a root. */
function sweepOnce(store: Store, caps: SandboxCaps): () => void {
  let swept = false;
  return () => {
    if (swept) return;
    swept = true;
    const p = sweepSandboxLeftovers(store, caps)
      .catch(() => undefined)
      .finally(() => pendingRemovals.delete(p));
    pendingRemovals.add(p);
  };
}

/** Lowerdirs the kernel accepts in one overlay (500) minus the init layer. */
export const MAX_CHAIN_LAYERS = 499;

export interface SandboxExecutorOptions {
  store: Store;
  caps: SandboxCaps;
  /** A helper started ahead for the first RUN (standby.ts); close() lets it go if unused. */
  standby?: HelperStandby;
}

function runsDir(store: Store): string {
  return store.dir('sandbox-runs', 'v1');
}

function newRunDir(store: Store): string {
  const dir = join(runsDir(store), `${process.pid}-${randomBytes(6).toString('hex')}`);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  return dir;
}

function missingLayer(): never {
  throw new Error('sandbox: a layer of the chain is missing from the store');
}

function lowerView(store: Store, layers: readonly LayerDigest[]): ViewReader {
  const v = mergeChain(layers, (d) => store.getLayer(d));
  if (!v) throw new Error(`sandbox: a layer of the chain is missing from the store`);
  return v;
}

export function copyHostFile(src: string, dst: string, fallback: string): void {
  try {
    copyFileSync(src, dst);
  } catch {
    writeFileSync(dst, fallback);
  }
}

/**
 * The init layer's entries: every mount point the chain lacks (or has with another type),
 * with its missing ancestors; ancestors the chain has are repeated with the chain's mode and
 * owner so that they look the same from above.
 */
export function initLayerEntries(lower: ViewReader, points: readonly { path: string; file: boolean; mode?: number }[]): LayerEntry[] {
  const out = new Map<string, LayerEntry>();
  const dirEntry = (p: string, mode: number): LayerEntry => {
    const e = lower.get(p);
    if (e?.type === 'dir') return { path: p, type: 'dir', mode: e.mode, ...(e.uid ? { uid: e.uid } : {}), ...(e.gid ? { gid: e.gid } : {}) };
    return { path: p, type: 'dir', mode };
  };
  for (const pt of points) {
    const rel = posix.normalize(pt.path).replace(/^\/+|\/+$/g, '');
    if (!rel || rel === '.') continue;
    const have = lower.get(rel);
    if (pt.file ? have?.type === 'file' : have?.type === 'dir') continue;
    const segs = rel.split('/');
    for (let i = 1; i < segs.length; i++) {
      const a = segs.slice(0, i).join('/');
      if (!out.has(a)) out.set(a, dirEntry(a, 0o755));
    }
    if (pt.file) out.set(rel, { path: rel, type: 'file', mode: 0o644, size: 0, digest: '' as never });
    else out.set(rel, { path: rel, type: 'dir', mode: pt.mode ?? 0o755 });
  }
  return [...out.values()];
}

/** Write the init layer with Node when every entry is root's (the common case: no helper
 *  spawn), else in the namespace. Empty files are created directly, never from blobs. */
export async function writeInitLayer(store: Store, caps: SandboxCaps, dir: string, entries: LayerEntry[]): Promise<void> {
  const rootOwned = entries.every((e) => !('uid' in e && e.uid) && !('gid' in e && e.gid));
  if (!rootOwned && caps.mapping.kind !== 'root') {
    const files = entries.filter((e) => e.type === 'file');
    const blob = files.length ? store.writeBlob(new Uint8Array()) : undefined;
    await buildTree(store, caps, dir, entries.map((e) => (e.type === 'file' ? { ...e, digest: blob!.digest } : e)));
    return;
  }
  mkdirSync(dir, { mode: 0o755 });
  for (const e of entries) {
    const p = join(dir, e.path);
    if (e.type === 'file') writeFileSync(p, '');
    else mkdirSync(p);
  }
  for (const e of [...entries].reverse()) {
    const p = join(dir, e.path);
    if ('uid' in e && (e.uid || e.gid)) chownSync(p, e.uid ?? 0, e.gid ?? 0);
    if ('mode' in e) chmodSync(p, e.mode);
  }
}

const pendingRemovals = new Set<Promise<void>>();

/**
 * Remove a run directory. Real root removes it in-process (1 ms; no owner is out of its
 * reach). Rootless, sub-id owned trees need the namespace (a helper spawn, ~15 ms): the
 * directory is renamed into `trash/` at once and removed in the background, so a RUN's
 * teardown costs a rename; drainSandboxRemovals() waits for what is still going, and the
 * next executor sweeps what a killed process left in `trash/`.
 */
async function removeRunDir(store: Store, caps: SandboxCaps, run: string): Promise<void> {
  if (caps.mapping.kind === 'root') {
    rmSync(run, { recursive: true, force: true });
    return;
  }
  const trash = join(runsDir(store), 'trash');
  mkdirSync(trash, { recursive: true });
  const dest = join(trash, `${process.pid}-${randomBytes(6).toString('hex')}`);
  renameSync(run, dest);
  const p = removeInNs(caps.tools, caps.mapping, [dest])
    .catch(() => undefined)
    .finally(() => pendingRemovals.delete(p));
  pendingRemovals.add(p);
}

/** Wait until every background removal of run directories has finished. */
export async function drainSandboxRemovals(): Promise<void> {
  while (pendingRemovals.size) await Promise.all([...pendingRemovals]);
}

/** Remove what earlier processes left in the store (killed mid-run, or mid-removal). Best
 *  effort: a directory of a live build of another process is recognised by its pid. */
export async function sweepSandboxLeftovers(store: Store, caps: SandboxCaps): Promise<void> {
  const base = runsDir(store);
  const stale: string[] = [];
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  };
  for (const dir of [base, join(base, 'trash')]) {
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) {
      const pid = Number(/^(\d+)-/.exec(n)?.[1]);
      if (pid && (dir !== base || !alive(pid))) stale.push(join(dir, n));
    }
  }
  if (stale.length) await removeInNs(caps.tools, caps.mapping, stale);
}

export function createSandboxExecutor(opts: SandboxExecutorOptions): Executor {
  const { store, caps } = opts;
  const sweep = sweepOnce(store, caps);
  return {
    kind: 'sandbox',
    close() {
      opts.standby?.discard();
    },
    async prepare(chain: ChainRef): Promise<PreparedRoot> {
      sweep();
      if (chain.layers.length > MAX_CHAIN_LAYERS) {
        throw new Error(`sandbox: the chain has ${chain.layers.length} layers; overlayfs takes at most ${MAX_CHAIN_LAYERS} (squash the base image)`);
      }
      const dirs: string[] = [];
      for (const d of chain.layers) dirs.push(await extractLayer(store, caps, d));
      // The step's merged view when it has one (a second merge of a 13k-entry chain: ~45 ms).
      const lower: ViewReader = chain.view ?? lowerView(store, chain.layers);
      const run = newRunDir(store);
      const upper = join(run, 'u');
      const upperRecs = new UpperRecords(run, 'u', caps.mapping.kind !== 'root');
      const work = join(run, 'w');
      const mnt = join(run, 'm');
      for (const d of [upper, work, mnt]) mkdirSync(d, { mode: 0o755 });
      // Lowerdirs are named relative to a directory the helper chdirs into, top first. The
      // extracted layers' own names (their digests, in one folder) are used when they fit the
      // page-sized mount options; past that (~200 layers of 16-hex names), short symlinks
      // l/0, l/1… in the run directory (each symlink costs ~1 ms on a busy disk here: 440 ms
      // for 499 layers, which is why they are not the default).
      const top = dirs.map((d) => basename(d)).reverse();
      const budget = 3500 - upper.length - work.length - run.length;
      let cwdDir = layersDir(store);
      let names = top;
      if (top.join(':').length > budget) {
        cwdDir = join(run, 'l');
        mkdirSync(cwdDir, { mode: 0o755 });
        names = top.map((_, i) => String(i));
        for (let i = 0; i < top.length; i++) symlinkSync(dirs[dirs.length - 1 - i]!, join(cwdDir, names[i]!));
      }
      copyHostFile('/etc/resolv.conf', join(run, 'resolv.conf'), '');
      copyHostFile('/etc/hosts', join(run, 'hosts'), '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n');
      let execs = 0;
      let released = false;
      return {
        kind: 'sandbox',
        async exec(req: ExecRequest): Promise<ExecResult> {
          if (released) throw new Error('sandbox: exec after release');
          const k = execs++;
          if (req.script !== undefined) {
            // A RUN heredoc: a file of the run directory, bound read-only into the root (its
            // mount point lives in the init layer, so it never reaches the layer).
            const file = join(run, `script${k}`);
            writeFileSync(file, req.script, { mode: 0o755 });
            const target = '/.stratum/heredoc';
            req = { ...req, argv: [...req.argv, target], mounts: [...req.mounts, { type: 'bind', source: file, target, readonly: true }] };
          }
          const init = join(run, `i${k}`);
          const points = [
            { path: 'proc', file: false },
            { path: 'dev', file: false },
            { path: 'etc/resolv.conf', file: true },
            { path: 'etc/hosts', file: true },
            ...req.mounts.map((m) => ({ path: m.target, file: m.type === 'bind' && !statSync(m.source).isDirectory() })),
          ];
          await writeInitLayer(store, caps, init, initLayerEntries(lower, points));
          const extra: ExecMount[] = [
            { type: 'bind', source: join(run, 'resolv.conf'), target: '/etc/resolv.conf', readonly: false },
            { type: 'bind', source: join(run, 'hosts'), target: '/etc/hosts', readonly: false },
          ];
          return runInSandbox(caps, { kind: 'overlay', mountpoint: mnt, layersDir: cwdDir, lowerdir: [init, ...names].join(':'), upper, work }, req, extra, opts.standby, req.lastExec ? upperRecs : upperRecs.clear());
        },
        async collect() {
          return { entries: await snapshotUpper(store, caps, upper, lower, { made: upperRecs }) };
        },
        async release(): Promise<void> {
          if (released) return;
          released = true;
          await removeRunDir(store, caps, run);
        },
      };
    },
  };
}

export interface HostToolsExecutorOptions {
  store: Store;
  caps: SandboxCaps;
  /** A helper started ahead for the first RUN (standby.ts); close() lets it go if unused. */
  standby?: HelperStandby;
  /** The stage's workspace: the only writable tree, bound at its own path. Taken on the
   *  first prepare() (a slot of the store, cache/owned-dirs.ts) and given back by close(). */
  workspace: () => Promise<Workspace>;
}

/**
 * host-tools: `req.cwd` and ExecMount targets are image paths, i.e. relative to the
 * workspace root (as the host executor treats WORKDIR); missing mount targets are created in
 * the workspace and left out of the snapshot.
 */
/** `target`'s ancestors from its parent up to `top` (inclusive), deepest first. */
function ancestorsUpTo(target: string, top: string): string[] {
  const out: string[] = [];
  if (target === top) return out;
  let p = join(target, '..');
  for (;;) {
    out.push(p);
    if (p === top || p === '/') break;
    p = join(p, '..');
  }
  return out;
}

/**
 * Whether host-tools RUNs write to an overlay over the workspace (lower = the tree, upper = the
 * RUN's changes; the snapshot then reads the upper only) or straight into the tree (the
 * workspace is walked after every RUN). Decided once per process: the overlay unless
 * STRATUM_HOST_TOOLS_OVERLAY=0, a path the mount options cannot carry, or the first mount
 * failing (some kernels refuse overlayfs in a user namespace, or over this filesystem).
 */
let wsOverlay: 'untried' | 'works' | 'off' | undefined;

const OVERLAY_FAILED = /^mount overlay on /;

/** STRATUM_HOST_TOOLS_OVERLAY=refuse-for-test: the first mount names a missing upper, so the
 *  kernel refuses it and the fallback is taken as on a machine without the overlay. */
const refusedForTest = () => process.env.STRATUM_HOST_TOOLS_OVERLAY === 'refuse-for-test' && wsOverlay === 'untried';

function overlayWanted(...paths: string[]): boolean {
  wsOverlay ??= process.env.STRATUM_HOST_TOOLS_OVERLAY === '0' ? 'off' : 'untried';
  // overlayfs options are split at ',' and ':' (and '\\' escapes): such a path cannot be named.
  return wsOverlay !== 'off' && paths.every((p) => !/[,:\\]/.test(p));
}

export function createHostToolsExecutor(opts: HostToolsExecutorOptions): Executor {
  const { store, caps } = opts;
  let held: Workspace | undefined;
  const sweep = sweepOnce(store, caps);
  return {
    kind: 'host-tools',
    close() {
      opts.standby?.discard();
      held?.release();
      held = undefined;
    },
    async prepare(chain: ChainRef): Promise<PreparedRoot> {
      sweep();
      const ws = (held ??= await opts.workspace());
      const view: ViewLike = chain.view ?? mergeChain(chain.layers, (d) => store.getLayer(d)) ?? missingLayer();
      ws.sync([...chain.layers], chain.chain, view);
      let failed = false;
      const run = newRunDir(store);
      const mnt = join(run, 'm');
      mkdirSync(mnt);
      const upper = join(run, 'u');
      const upperRecs = new UpperRecords(run, 'u', caps.mapping.kind !== 'root');
      const work = join(run, 'w');
      /** This step's RUNs go to the upper; false once the first mount failed (then the tree). */
      let overlay = overlayWanted(ws.root, upper, work);
      if (overlay) for (const d of [upper, work]) mkdirSync(d, { mode: 0o755 });
      const skip = new Set<string>();
      let released = false;
      return {
        kind: 'host-tools',
        async exec(req: ExecRequest): Promise<ExecResult> {
          if (released) throw new Error('host-tools: exec after release');
          const inWs = (p: string) => join(ws.root, posix.normalize('/' + p));
          const cwd = inWs(req.cwd);
          // Over the overlay the helper makes the cwd, in the upper, as the RUN's own change.
          if (!overlay) mkdirSync(cwd, { recursive: true });
          // Mount points the tree lacks are made for the RUN and removed after it (deepest
          // first), so they never reach the layer or the next build's tree.
          const made: string[] = [];
          const mounts = req.mounts.map((m): ExecMount => {
            const target = inWs(m.target);
            if (!existsSync(target)) {
              let top = target;
              while (!existsSync(join(top, '..'))) top = join(top, '..');
              const file = m.type === 'bind' && !statSync(m.source).isDirectory();
              if (file) {
                mkdirSync(join(target, '..'), { recursive: true });
                writeFileSync(target, '');
              } else mkdirSync(target, { recursive: true });
              made.push(target, ...ancestorsUpTo(target, top));
              skip.add(posix.normalize(m.target).replace(/^\/+|\/+$/g, ''));
            }
            return { ...m, target };
          });
          let argv = req.argv;
          const extra: ExecMount[] = [];
          if (req.script !== undefined) {
            // Beside the tree, not in it, bound at its own path (the store may lie under the
            // RUN's private /tmp).
            const file = join(run, 'heredoc.script');
            writeFileSync(file, req.script, { mode: 0o755 });
            argv = [...argv, file];
            extra.push({ type: 'bind', source: file, target: file, readonly: true });
          }
          const wsBind: ExecMount = { type: 'bind', source: ws.root, target: ws.root, readonly: false };
          await ws.beginRun();
          try {
            // Paths in the environment (SSH_AUTH_SOCK of an ssh mount) name the image's root: here, the workspace.
            const env = { ...req.env };
            for (const k of req.pathEnv ?? []) if (env[k] !== undefined) env[k] = inWs(env[k]!);
            const go = (over: boolean, onLine: ExecRequest['onLine']) =>
              runInSandbox(
                caps,
                { kind: 'host-tools', mountpoint: mnt, ...(over ? { wsOverlay: { parent: dirname(ws.root), name: basename(ws.root), upper: refusedForTest() ? join(run, 'no-upper') : upper, work } } : {}) },
                { ...req, onLine, argv, cwd, mounts, env },
                over ? extra : [wsBind, ...extra],
                opts.standby,
                over && req.lastExec ? upperRecs : upperRecs.clear(),
              );
            let res: ExecResult;
            if (overlay && wsOverlay === 'untried') {
              // The first overlay of this process: a refused mount runs the RUN again on the
              // tree (nothing ran: the mount comes before the command) and decides for the rest.
              let refused: string | undefined;
              res = await go(true, (stream, line) => {
                if (stream === 'stderr' && OVERLAY_FAILED.test(line.replace(/^stratum-sandbox: /, ''))) refused = line;
                else req.onLine(stream, line);
              });
              if (!res.ok && refused !== undefined && res.spawnError !== undefined && OVERLAY_FAILED.test(res.spawnError)) {
                wsOverlay = 'off';
                overlay = false;
                req.onLine('stderr', `stratum: ${res.spawnError}; host-tools RUNs write to the workspace directly in this process (each snapshot walks the whole workspace)`);
                mkdirSync(cwd, { recursive: true });
                res = await go(false, req.onLine);
              } else if (res.ok) wsOverlay = 'works';
            } else res = await go(overlay, req.onLine);
            if (!res.ok) failed = true;
            return res;
          } finally {
            // Only what is still an empty mount point (or an empty parent made for one) goes:
            // whatever the RUN wrote beside it stays.
            for (const p of made) {
              try {
                if (statSync(p).isDirectory()) rmdirSync(p);
                else if (statSync(p).size === 0) unlinkSync(p);
              } catch {
                // not empty, or gone: leave it
              }
            }
          }
        },
        async collect() {
          if (overlay) {
            const snap = ws.applyUpper(view, upper, await upperChanges(caps, upper, view, upperRecs), skip);
            return { entries: snap.entries, after: snap.after };
          }
          const snap = ws.snapshot(view, skip);
          return { entries: snap.entries, after: snap.after };
        },
        committed(layers, c) {
          ws.commit(layers, c);
        },
        async release(): Promise<void> {
          if (released) return;
          released = true;
          // A failed or cancelled RUN leaves the tree in an unknown state: the next sync re-reads it.
          if (failed) ws.markDirty();
          // The upper may hold what a rootless RUN chowned to a sub-id: removed in the namespace.
          await removeRunDir(store, caps, run);
        },
      };
    },
  };
}
