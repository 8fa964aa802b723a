/**
 * Run one command in the sandbox: new user, mount, PID, IPC and UTS namespaces (and network,
 * for `network: 'none'`, with loopback up), whose root is either
 * - `overlay`: an overlayfs of the given lowerdirs and an upperdir on the store's filesystem,
 *   with a fresh /proc, a minimal /dev (null zero full random urandom tty bound from the host,
 *   devpts, shm), a tmpfs /tmp, and the ExecMounts; or
 * - `host-tools`: the host's root, recursively read-only, with a fresh /proc, tmpfs /tmp and
 *   /dev/shm, and the ExecMounts (the stage's workspace is one, read-write).
 * The old root is detached after pivot_root: nothing of the host is reachable but the mounts.
 *
 * Output is split into lines as the host executor does. Cancellation: SIGTERM to the helper's
 * process group (forwarded to the command, PID 1 of its namespace), SIGKILL after the grace
 * period; the PID namespace dies with its init, the mount namespace with its last process.
 */
import { groupKiller } from '../process-group.js';
import { lineSplitter } from '../line-splitter.js';
import type { ExecMount, ExecRequest, ExecResult } from '../executor-types.js';
import type { SandboxCaps } from './detect.js';
import { mappingNote } from './detect.js';
import { sendSpec, spawnHelper, type Rec } from './ns.js';
import type { HelperStandby } from './standby.js';
import type { UpperRecords } from './snapshot.js';
import { mergeStderr } from '../merged-output.js';

export type RootSpec =
  | { kind: 'overlay'; mountpoint: string; layersDir: string; lowerdir: string; upper: string; work: string }
  | { kind: 'host-tools'; mountpoint: string; wsOverlay?: WsOverlay };

/** host-tools over an overlay: the workspace tree `parent/name` is the lower and is mounted
 *  over itself; the RUN's writes land in `upper` (engine/sandbox/executor.ts). */
export interface WsOverlay {
  parent: string;
  name: string;
  upper: string;
  work: string;
}

/** Mounts as the helper reads them; targets are absolute paths inside the root. */
function mountRecs(mounts: readonly ExecMount[]): Rec[] {
  return mounts.map((m): Rec => {
    if (m.type === 'tmpfs') return ['tmpfs', m.target, m.sizeBytes ?? ''];
    if (m.discard) return ['cow', m.source, m.target, m.discard.scratch];
    return ['bind', m.source, m.target, m.readonly ? 'ro' : 'rw'];
  });
}

/** `standby`: a helper already started (standby.ts), used instead of a new spawn when it is
 *  still waiting. `made`: the helper reads the upper after the command and leaves the records
 *  there (snapshot.ts UpperRecords). */
export function runInSandbox(caps: SandboxCaps, root: RootSpec, req: ExecRequest, extraMounts: readonly ExecMount[] = [], standby?: HelperStandby, made?: UpperRecords): Promise<ExecResult> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    if (req.signal?.aborted) {
      resolve({ ok: false, ms: 0, exitCode: null, signal: null, cancelled: true });
      return;
    }
    if (!req.argv.length) {
      resolve({ ok: false, ms: 0, exitCode: null, signal: null, cancelled: false, spawnError: 'empty command' });
      return;
    }
    const recs: Rec[] = [['op', root.kind === 'overlay' ? 'run' : 'hosttools'], ['mnt', root.mountpoint], ['cwd', req.cwd], ['argv', ...mergeStderr(req.argv)]];
    if (root.kind === 'overlay') recs.push(['overlay', root.layersDir, root.lowerdir, root.upper, root.work]);
    else if (root.wsOverlay) recs.push(['wsovl', root.wsOverlay.parent, root.wsOverlay.name, root.wsOverlay.upper, root.wsOverlay.work]);
    if (req.network === 'none') recs.push(['netnone']);
    if (req.user && (req.user.uid !== 0 || req.user.gid !== 0 || req.user.groups?.length)) {
      recs.push(['user', req.user.uid, req.user.gid, ...(req.user.groups ?? [])]);
    }
    for (const [k, v] of Object.entries(req.env)) recs.push(['env', k, v]);
    recs.push(...mountRecs([...extraMounts, ...req.mounts]));
    if (made) recs.push(made.rec());

    const child = standby?.take() ?? spawnHelper(caps.tools, { stdout: 'pipe', stderr: 'pipe' });
    sendSpec(child, caps.mapping, recs);
    const group = groupKiller(child, req.signal, req.killGraceMs);
    let setupError: string | undefined;
    let readOnlyPath: string | undefined;
    let chownInvalid = false;
    const split = (stream: 'stdout' | 'stderr') => {
      const emit = (line: string) => {
        // The command's stderr arrives on stdout when merged (engine/merged-output.ts): what it
        // says about a read-only path or chown is looked for in both.
        if (stream === 'stderr' && line.startsWith('stratum-sandbox: ')) setupError = line.slice('stratum-sandbox: '.length);
        if (/Read-only file system/.test(line)) readOnlyPath ??= /'([^']+)'|"([^"]+)"|: (\/[^:]+): Read-only/.exec(line)?.slice(1).find(Boolean) ?? '';
        if (/chown|chgrp/.test(line) && /Invalid argument/.test(line)) chownInvalid = true;
        req.onLine(stream, line);
      };
      return lineSplitter(emit);
    };
    const out = split('stdout');
    const err = split('stderr');
    child.stdout!.on('data', out.data);
    child.stderr!.on('data', err.data);
    let spawnError: string | undefined;
    child.on('error', (e) => {
      spawnError = e.message;
    });
    child.on('close', (code, signal) => {
      out.end();
      err.end();
      group.settle();
      group.kill('SIGKILL');
      const ms = performance.now() - t0;
      if (code === 0 && !group.cancelled) {
        resolve({ ok: true, ms });
        return;
      }
      const fail: Extract<ExecResult, { ok: false }> = { ok: false, ms, exitCode: code, signal, cancelled: group.cancelled };
      if (spawnError) fail.spawnError = spawnError;
      else if ((code === 125 || code === 127) && setupError) fail.spawnError = setupError;
      if (readOnlyPath !== undefined && root.kind === 'host-tools') {
        fail.hint = `${readOnlyPath ? JSON.stringify(readOnlyPath) : 'the path'} is outside the workspace: a stage FROM scratch runs the host's tools with the host read-only; only the stage's workspace and /tmp are writable (write under the WORKDIR, or build FROM an image with a shell)`;
      } else if (chownInvalid && mappingNote(caps.mapping)) {
        fail.hint = mappingNote(caps.mapping)!;
      }
      resolve(fail);
    });
  });
}
