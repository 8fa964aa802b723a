/**
 * Running a container: the root is an overlay of the image's extracted layers (the same
 * lowerdirs a RUN uses), a per-container init layer (mount points only), and the container's
 * persistent upperdir, its writable layer. The sandbox helper runs with `init`: its PID 1
 * stays, runs the command as its child, forwards signals and reaps orphans.
 *
 * The supervisor is the process that spawned the helper: the CLI itself in the foreground,
 * or a detached `stratum __container-shim ID` for `-d`. The helper dies with it
 * (PR_SET_PDEATHSIG), so a killed stratum leaves no container process behind; the
 * supervisor records the exit code. `stop` signals the supervisor, which forwards the stop
 * signal and escalates to SIGKILL after the grace period.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Store } from '../../cache/store-types.js';
import type { SandboxCaps } from '../sandbox/detect.js';
import { copyHostFile, initLayerEntries, writeInitLayer, MAX_CHAIN_LAYERS } from '../sandbox/executor.js';
import { extractLayer, layersDir } from '../sandbox/extract.js';
import { removeInNs, spawnNs, type Rec } from '../sandbox/ns.js';
import { shellStatus } from '../process-group.js';
import { imageView } from './create.js';
import { containerDir, loadContainer, procStart, saveContainer, supervisorAlive, type ContainerRecord, type RestartPolicy } from './records.js';
import { ensureVolume, removeVolume } from './volumes.js';

export const CLI_MAIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

/** The lock file that pins the extracted layers while container `id` runs. */
export function layersPin(store: Store, id: string): string {
  return join(layersDir(store), `container-${id}.lock`);
}

export async function removeTree(caps: SandboxCaps, path: string): Promise<void> {
  if (!existsSync(path)) return;
  if (caps.mapping.kind === 'root') rmSync(path, { recursive: true, force: true });
  else await removeInNs(caps.tools, caps.mapping, [path]);
}

/** Lay out the root of `rec` and return the helper's records. */
export async function prepareContainerRoot(store: Store, caps: SandboxCaps, rec: ContainerRecord): Promise<Rec[]> {
  const dir = containerDir(store, rec.id);
  const layers = rec.image.layers;
  if (layers.length > MAX_CHAIN_LAYERS) throw new Error(`the image has ${layers.length} layers; overlayfs takes at most ${MAX_CHAIN_LAYERS}`);
  const dirs: string[] = [];
  for (const d of layers) dirs.push(await extractLayer(store, caps, d));
  const view = imageView(store, layers);
  const upper = join(dir, 'u');
  const work = join(dir, 'w');
  const mnt = join(dir, 'm');
  for (const d of [upper, work, mnt]) mkdirSync(d, { recursive: true, mode: 0o755 });
  const mounts: Rec[] = [];
  const points: { path: string; file: boolean; mode?: number }[] = [
    { path: 'proc', file: false },
    { path: 'dev', file: false },
    { path: 'etc/resolv.conf', file: true },
    { path: 'etc/hosts', file: true },
  ];
  copyHostFile('/etc/resolv.conf', join(dir, 'resolv.conf'), '');
  copyHostFile('/etc/hosts', join(dir, 'hosts'), '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n');
  mounts.push(['bind', join(dir, 'resolv.conf'), '/etc/resolv.conf', 'rw'], ['bind', join(dir, 'hosts'), '/etc/hosts', 'rw']);
  for (const m of rec.config.mounts) {
    if (m.type === 'tmpfs') {
      points.push({ path: m.target, file: false });
      mounts.push(['tmpfs', m.target, m.sizeBytes ?? '']);
      continue;
    }
    const source = m.type === 'bind' ? m.source : await ensureVolume(store, caps, m.name, m.anonymous, view, m.target);
    points.push({ path: m.target, file: !statSync(source).isDirectory() });
    mounts.push(['bind', source, m.target, m.readonly ? 'ro' : 'rw']);
  }
  const init = join(dir, 'i');
  await removeTree(caps, init);
  await writeInitLayer(store, caps, init, initLayerEntries(view, points));
  // As the RUN executor does: the layers' own names while they fit the page-sized mount
  // options, else short symlinks l/0, l/1… in the container's directory.
  let cwdDir = layersDir(store);
  let names = dirs.map((d) => basename(d)).reverse();
  if (names.join(':').length > 3500 - upper.length - work.length - init.length) {
    cwdDir = join(dir, 'l');
    rmSync(cwdDir, { recursive: true, force: true });
    mkdirSync(cwdDir, { mode: 0o755 });
    const top = [...dirs].reverse();
    names = top.map((_, i) => String(i));
    top.forEach((d, i) => symlinkSync(d, join(cwdDir, String(i))));
  }
  const lowerdir = [init, ...names].join(':');
  const c = rec.config;
  const recs: Rec[] = [['op', 'run'], ['mnt', mnt], ['cwd', c.cwd], ['argv', ...c.argv], ['init'], ['overlay', cwdDir, lowerdir, upper, work]];
  // Docker's hostname: the host's with the host network (the default), the short id without.
  if (c.network === 'none') recs.push(['netnone'], ['hostname', rec.id.slice(0, 12)]);
  if (c.user && (c.user.uid !== 0 || c.user.gid !== 0 || c.user.groups?.length)) recs.push(['user', c.user.uid, c.user.gid, ...(c.user.groups ?? [])]);
  for (const [k, v] of Object.entries(c.env)) recs.push(['env', k, v]);
  recs.push(...mounts);
  return recs;
}

/** Linux's real-time signals as the C library numbers them (glibc keeps 32 and 33), as Docker
 *  names them in STOPSIGNAL (systemd images stop on SIGRTMIN+3). */
const SIGRTMIN = 34;
const SIGRTMAX = 64;

/** The image's STOPSIGNAL as process.kill takes it: any signal name (SIGQUIT for nginx,
 *  SIGWINCH for httpd), a number, or RTMIN+n / RTMAX-n; anything else (the Dockerfile check
 *  lets none through) is SIGTERM. */
export function normSignal(s: string): NodeJS.Signals | number {
  const up = s.toUpperCase().replace(/^SIG/, '');
  if (/^\d+$/.test(up)) {
    const n = Number(up);
    return n >= 1 && n <= SIGRTMAX ? n : 'SIGTERM';
  }
  const rt = /^RT(MIN|MAX)([+-]\d+)?$/.exec(up);
  if (rt) {
    const n = (rt[1] === 'MIN' ? SIGRTMIN : SIGRTMAX) + Number(rt[2] ?? 0);
    return n >= SIGRTMIN && n <= SIGRTMAX ? n : 'SIGTERM';
  }
  const name = `SIG${up}`;
  return name in constants.signals ? (name as NodeJS.Signals) : 'SIGTERM';
}

export interface SuperviseIo {
  /** Foreground: the container's output also goes here. */
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** `-i`: the container's stdin is this process's (with a tty: the pty's input, relayed by
   *  the helper straight from the user's terminal, which the caller put in raw mode). */
  stdin?: 'inherit';
  /** With a tty: the user's terminal size now and on every change (SIGWINCH). */
  terminal?: { rows: number; cols: number; onResize(fn: (rows: number, cols: number) => void): () => void };
  /** Called once the container runs (state saved). */
  onStarted?: (rec: ContainerRecord) => void;
  /** Stop the container when aborted (stop signal, SIGKILL after the grace). With it, this
   *  process's own signals are left to the caller (watch --run stops the watcher on them). */
  signal?: AbortSignal;
}

/** Whether the restart policy restarts a container that exited with `code` after `restarts`
 *  restarts (a container that `stop` ended is never restarted). */
export function shouldRestart(policy: RestartPolicy | undefined, code: number, restarts: number): boolean {
  if (!policy || policy.name === 'no') return false;
  if (policy.name === 'on-failure') return code !== 0 && (policy.maxRetries === undefined || restarts < policy.maxRetries);
  return true; // always, unless-stopped: without a daemon that restarts on boot, the same
}

/**
 * Start container `id` and supervise it until it exits: returns its exit code (128 + n for a
 * signal). Its output is appended to `<dir>/log` (and copied to io.stdout/stderr when given).
 * With a restart policy, an exit that the policy covers starts it again (the same writable
 * layer and volumes) after a back-off of 100 ms doubling up to 10 s, as Docker's.
 */
export async function superviseContainer(store: Store, caps: SandboxCaps, id: string, io: SuperviseIo = {}): Promise<number> {
  const first = loadContainer(store, id);
  if (!first) throw new Error(`container ${id} is gone`);
  if (first.state.status === 'running') throw new Error(`container ${first.name} is already running`);
  let stopping = false;
  let current: { group: (sig: NodeJS.Signals | number) => void } | undefined;
  let wake: (() => void) | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  const stopSignal = normSignal(first.config.stopSignal);
  const onSignal = (sig: NodeJS.Signals) => {
    // SIGTERM is how `stratum stop` asks: the image's STOPSIGNAL, then SIGKILL after the grace.
    stopping = true;
    wake?.();
    current?.group(sig === 'SIGTERM' ? stopSignal : sig);
    killTimer ??= setTimeout(() => current?.group('SIGKILL'), first.config.stopTimeoutS * 1000);
  };
  const handlers = (['SIGTERM', 'SIGINT', 'SIGHUP'] as NodeJS.Signals[]).map((s) => [s, () => onSignal(s)] as const);
  const onAbort = () => onSignal('SIGTERM');
  if (io.signal) {
    if (io.signal.aborted) onAbort();
    else io.signal.addEventListener('abort', onAbort, { once: true });
  } else for (const [s, h] of handlers) process.on(s, h);
  try {
    let restarts = first.state.restartCount ?? 0;
    for (let n = 0; ; n++) {
      const code = await runOnce(store, caps, id, io, (g) => (current = g));
      current = undefined;
      const rec = loadContainer(store, id);
      if (!rec || stopping || code === 125 || !shouldRestart(rec.config.restart, code, restarts)) {
        if (rec?.config.autoRemove) await removeContainer(store, caps, rec, { volumes: true });
        return code;
      }
      restarts++;
      const pidStart = procStart(process.pid);
      rec.state = { ...rec.state, status: 'running', pid: process.pid, ...(pidStart ? { pidStart } : {}), restarting: true, restartCount: restarts, detached: io.stdout === undefined };
      saveContainer(store, rec);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, Math.min(100 * 2 ** n, 10_000));
      });
      wake = undefined;
      if (stopping) {
        const now = loadContainer(store, id) ?? rec;
        now.state = { ...now.state, status: 'exited', finishedAt: new Date().toISOString() };
        for (const k of ['pid', 'pidStart', 'helperPid', 'restarting'] as const) delete now.state[k];
        saveContainer(store, now);
        return code;
      }
      const again = loadContainer(store, id)!;
      again.state = { ...again.state, status: 'exited' };
      saveContainer(store, again);
    }
  } finally {
    for (const [s, h] of handlers) process.off(s, h);
    io.signal?.removeEventListener('abort', onAbort);
    if (killTimer) clearTimeout(killTimer);
  }
}

async function runOnce(store: Store, caps: SandboxCaps, id: string, io: SuperviseIo, onChild: (c: { group: (sig: NodeJS.Signals | number) => void }) => void): Promise<number> {
  let rec = loadContainer(store, id)!;
  const dir = containerDir(store, id);
  let recs: Rec[];
  try {
    recs = await prepareContainerRoot(store, caps, rec);
  } catch (err) {
    rec.state = { ...rec.state, status: 'exited', exitCode: 125, finishedAt: new Date().toISOString(), error: err instanceof Error ? err.message : String(err) };
    for (const k of ['pid', 'pidStart', 'helperPid', 'restarting'] as const) delete rec.state[k];
    saveContainer(store, rec);
    throw err;
  }
  const term = rec.config.tty ? io.terminal : undefined;
  if (rec.config.tty) recs.push(['tty', term?.rows || 24, term?.cols || 80], ...(term ? [['ctl'] as Rec] : []));
  // prune sweeps a `dirs/` folder with no slot and no `*.lock` as an old layout: this lock
  // keeps the extracted layers under a running container's overlay.
  const pin = layersPin(store, id);
  writeFileSync(pin, String(process.pid));
  const log = openSync(join(dir, 'log'), 'a');
  const fg = io.stdout !== undefined;
  const stdin = io.stdin ?? 'ignore';
  const child = spawnNs(caps.tools, caps.mapping, recs, fg ? { stdin, stdout: 'pipe', stderr: 'pipe', ctl: term !== undefined } : { stdin, stdout: log, stderr: log });
  let setupError = '';
  if (fg) {
    child.stdout!.on('data', (d: Buffer) => {
      io.stdout!.write(d);
      writeSync(log, d);
    });
    child.stderr!.on('data', (d: Buffer) => {
      const s = d.toString('utf8');
      const m = /stratum-sandbox: (.*)/.exec(s);
      if (m) setupError = m[1]!;
      (io.stderr ?? io.stdout!).write(d);
      writeSync(log, d);
    });
  }
  const ctl = child.stdio[4] as NodeJS.WritableStream | null | undefined;
  ctl?.on('error', () => undefined);
  const offResize = term?.onResize((rows, cols) => ctl?.write(`${rows} ${cols}\n`));
  const pidStart = procStart(process.pid);
  const restartCount = rec.state.restartCount;
  rec.state = {
    status: 'running',
    pid: process.pid,
    ...(pidStart ? { pidStart } : {}),
    ...(child.pid !== undefined ? { helperPid: child.pid } : {}),
    detached: !fg,
    startedAt: new Date().toISOString(),
    ...(restartCount ? { restartCount } : {}),
  };
  saveContainer(store, rec);
  io.onStarted?.(rec);
  const group = (sig: NodeJS.Signals | number) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, sig);
    } catch {
      // gone
    }
  };
  onChild({ group });
  const code = await new Promise<number>((resolve) => {
    child.on('error', (e) => {
      setupError = e.message;
    });
    child.on('close', (c, sig) => resolve(shellStatus(c, sig)));
  });
  offResize?.();
  group('SIGKILL');
  closeSync(log);
  rmSync(pin, { force: true });
  rec = loadContainer(store, id) ?? rec;
  rec.state = { ...rec.state, status: 'exited', exitCode: code, finishedAt: new Date().toISOString(), ...(code === 125 && setupError ? { error: setupError } : {}) };
  for (const k of ['pid', 'pidStart', 'helperPid', 'restarting'] as const) delete rec.state[k];
  saveContainer(store, rec);
  return code;
}

/** Start `rec` detached: a shim process supervises it past this CLI's exit. Resolves once it
 *  runs (or failed to start). */
export async function startDetached(store: Store, rec: ContainerRecord): Promise<ContainerRecord> {
  // A restarted container reads as `created` until its shim runs it (its last exit would
  // otherwise pass for this start's).
  if (rec.state.status === 'exited') {
    saveContainer(store, { ...rec, state: { status: 'created' } });
  }
  const child = spawn(process.execPath, [CLI_MAIN, '__container-shim', rec.id, '--cache-dir', store.root], { detached: true, stdio: 'ignore', env: process.env });
  child.unref();
  let shimExited = false;
  child.on('exit', () => (shimExited = true));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const now = loadContainer(store, rec.id);
    if (!now) throw new Error(`container ${rec.name} vanished while starting`);
    if (now.state.status === 'exited' || (now.state.status === 'running' && now.state.helperPid)) return now;
    if (shimExited && loadContainer(store, rec.id)?.state.status === 'created') throw new Error(`the supervisor of ${rec.name} exited before starting it`);
    if (Date.now() > deadline) throw new Error(`container ${rec.name} did not start within 30 s`);
    await sleep(30);
  }
}

/** Ask the supervisor to stop the container; SIGKILL everything after `timeoutS` + 2 s. */
export async function stopContainer(store: Store, rec: ContainerRecord, timeoutS: number): Promise<ContainerRecord> {
  if (rec.state.status !== 'running' || !supervisorAlive(rec)) return loadContainer(store, rec.id) ?? rec;
  // The supervisor escalates after the container's own grace; a shorter -t escalates from here.
  try {
    process.kill(rec.state.pid!, 'SIGTERM');
  } catch {
    // gone
  }
  const deadline = Date.now() + timeoutS * 1000;
  let killed = false;
  for (;;) {
    const now = loadContainer(store, rec.id);
    if (!now || now.state.status !== 'running') return now ?? rec;
    if (!killed && Date.now() > deadline) {
      killed = true;
      try {
        if (now.state.helperPid) process.kill(-now.state.helperPid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    if (Date.now() > deadline + 5000) {
      try {
        process.kill(now.state.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await sleep(50);
  }
}

/** Remove a stopped container's directory; with `volumes`, its anonymous volumes too. */
export async function removeContainer(store: Store, caps: SandboxCaps, rec: ContainerRecord, opts: { volumes: boolean }): Promise<void> {
  await removeTree(caps, containerDir(store, rec.id));
  if (opts.volumes) for (const m of rec.config.mounts) if (m.type === 'volume' && m.anonymous) await removeVolume(store, caps, m.name);
}
