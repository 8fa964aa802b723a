/** RUN: execute the command in a root that shows the chain below, collect what it changed. */
import type { Instruction, Mount } from '../dockerfile/types.js';
import { contextBinds, stageViewBind } from '../bind-mount.js';
import { posix } from 'node:path';
import { normalizeRef } from '../load.js';
import type { PlannedStep } from '../plan.js';
import type { Session } from '../build-session.js';
import { ContextError, type SourceMatch } from '../context.js';
import { LOG_TAIL_LINES, type ExecResult } from '../executor-types.js';
import { EXIT, UserError } from '../errors.js';
import { runEnv, type ConfigState } from '../plan.js';
import { stepError } from '../build-session.js';
import { MountError, resolveMounts } from '../run-mounts.js';
import { runEnvironment } from '../run-env.js';
import { lazyView, viewOf, type StageRun } from '../stage-state.js';
import { fileListOf, KEY_SCHEMA, SANDBOX_REVISION } from '../step-key.js';
import { resolveUser } from '../user-resolve.js';
import type { FsHandler, KeyInputs } from './cached-step.js';
import type { OwnedDir } from '../../cache/owned-dirs.js';

type RunInstr = Extract<Instruction, { kind: 'RUN' }>;

interface RunInputs extends KeyInputs {
  /** The context sources of its bind mounts, as fingerprinted for the key. */
  binds?: Map<Mount, SourceMatch>;
}

export const runStep: FsHandler<RunInputs> = {
  inputs(s, step, run) {
    const ins = step.instr as RunInstr;
    const record: KeyInputs['record'] = { schema: KEY_SCHEMA, op: 'RUN', platform: s.platform, executor: s.executorKind(step), parent: run.chain, instruction: '', flags: {} };
    record.instruction = ins.exec ? JSON.stringify(ins.exec) : (ins.shell ?? '') + ins.heredocs.map((h) => `\n${h.content}${h.name}`).join('');
    if (record.executor === 'sandbox') record.runtime = SANDBOX_REVISION;
    if (ins.network) record.flags.network = ins.network;
    if (ins.security) record.flags.security = ins.security;
    const other = ins.mounts.filter((m) => m.type !== 'cache');
    if (other.length) record.flags.mount = JSON.stringify(other.map((m) => m.raw));
    const cacheMounts = ins.mounts.filter((m) => m.type === 'cache').map((m) => ({ target: m.target, id: m.id ?? m.target }));
    if (cacheMounts.length) record.cacheMounts = cacheMounts;
    record.env = runEnv(step.before);
    record.workdir = step.before.workdir;
    record.user = step.before.user;
    record.shell = step.before.shell;
    // A mounted stage or image is an input like a COPY --from's source: its chain is in the key.
    for (const [k, m] of ins.mounts.entries()) {
      if (m.type !== 'bind' || m.from === undefined) continue;
      (record.mountChains ??= {})[posix.resolve(step.before.workdir || '/', m.target || '.')] = mountSource(s, step, k, m).chain;
    }
    // Bound context files are inputs like a COPY's sources: their fingerprints are in the key.
    if (!ins.mounts.some((m) => m.type === 'bind' && m.from === undefined)) return { record };
    let binds;
    try {
      binds = contextBinds(s.ctx, ins.mounts);
    } catch (err) {
      if (err instanceof MountError) throw stepError(s, step, 'RUN_MOUNT', err.message, err.hint);
      if (err instanceof ContextError) throw stepError(s, step, 'RUN_MOUNT', err.message.replace(/^COPY source/, 'RUN --mount=type=bind source'), err.hint);
      throw err;
    }
    const files = fileListOf(binds.rows);
    record.files = { digest: files.digest, count: files.count };
    return { record, files, binds: binds.matches };
  },
  dryEntries: () => undefined,
  async produce(s, step, run, inputs, signal, info, startedAt) {
    const ins = step.instr as RunInstr;
    const executor = s.executorFor(run, step);
    const view = viewOf(s.store, run, s.dryLayers);
    // Layers of a mounted stage that a --cache-from hit left remote come in first.
    const fromMounts = ins.mounts.flatMap((m, k) => (m.type === 'bind' && m.from !== undefined ? [[k, m] as const] : []));
    for (const [k, m] of fromMounts) await s.remoteCache?.materialize(mountSource(s, step, k, m).layers);
    const stageFrom = (m: Mount, dir: string): string => {
      const src = mountSource(s, step, ins.mounts.indexOf(m), m);
      const at = stageViewBind(lazyView(s.store, src, s.dryLayers), m.source ?? '/', dir, (e) => s.store.blobPath(e.digest));
      if (at === undefined) throw new MountError(`RUN --mount=type=bind,from=${m.from}: source ${m.source ?? '/'} not found in that ${s.plan.mountFrom.get(step)?.has(ins.mounts.indexOf(m)) ? 'stage' : 'image'}`, 'check source=: it is an absolute path in the mounted stage');
      return at;
    };
    let resolved;
    try {
      resolved = await resolveMounts(s.store, s.ctx.root, step.before.workdir, ins.mounts, {
        ...(s.lease ? { lease: s.lease } : {}),
        ...(s.opts.secrets ? { secrets: s.opts.secrets } : {}),
        env: s.opts.hostEnv ?? process.env,
        signal,
        onContention: (name, slot, waitedMs) => s.bus.emit({ type: 'contention', resource: 'cache-mount', name, index: step.index, slot, waitedMs }),
        ...(s.remoteCache ? { seed: (id: string, dir: OwnedDir) => s.remoteCache!.seedMount(id, s.platform, dir) } : {}),
        ...(inputs.binds ? { binds: inputs.binds } : {}),
        stageFrom,
        ...(s.opts.ssh ? { ssh: s.opts.ssh } : {}),
      });
    } catch (err) {
      if (err instanceof MountError) throw stepError(s, step, 'RUN_MOUNT', err.message, err.hint);
      throw err;
    }
    const mounts = resolved.mounts;
    let user;
    if (executor.kind === 'sandbox' && step.before.user) {
      const u = resolveUser(step.before.user, (p) => {
        const e = view.get(p);
        return e?.type === 'file' ? s.store.readBlob(e.digest)?.toString('utf8') : undefined;
      });
      if (!u.ok) throw stepError(s, step, 'RUN_USER', u.message, u.hint);
      user = u.user;
    }
    const env = {
      ...runEnvironment(executor.kind, runEnv(step.before), s.opts.hostEnv ?? process.env, {
        ...(s.opts.envPass ? { envPass: s.opts.envPass } : {}),
        ...(user ? { home: user.home } : {}),
      }),
      ...resolved.env,
    };
    const cmd = commandLine(ins, step.before);
    const tail: string[] = [];
    const root = await executor.prepare({ layers: run.layers, chain: run.chain, view });
    let res: ExecResult;
    try {
      res = await root.exec({
        argv: cmd.argv,
        ...(cmd.script !== undefined ? { script: cmd.script } : {}),
        env,
        cwd: step.before.workdir,
        ...(user ? { user: { uid: user.uid, gid: user.gid, groups: user.groups } } : {}),
        mounts,
        ...(Object.keys(resolved.env).length ? { pathEnv: Object.keys(resolved.env) } : {}),
        network: ins.network === 'none' ? 'none' : 'host',
        lastExec: true,
        signal,
        onContention: (resource, name, slot, waitedMs) => s.bus.emit({ type: 'contention', resource, name, index: step.index, slot, waitedMs }),
        ...(s.opts.killGraceMs !== undefined ? { killGraceMs: s.opts.killGraceMs } : {}),
        onLine: (stream, line) => {
          tail.push(line);
          if (tail.length > LOG_TAIL_LINES) tail.shift();
          s.bus.emit({ type: 'step-log', index: step.index, stream, line });
        },
      });
      if (res.ok) {
        const { entries, after } = await root.collect();
        return { kind: 'layer', entries, ...(after ? { after } : {}), committed: (layers, chain) => root.committed?.(layers, chain) };
      }
    } finally {
      await root.release();
      resolved.release();
    }
    const ms = Math.round(performance.now() - startedAt);
    if (res.cancelled) {
      s.bus.emit({ type: 'step-cancelled', ...info, ms });
      return { kind: 'cancelled' };
    }
    const where = executor.kind === 'sandbox' ? 'in the image' : 'on this machine';
    const message = res.spawnError ? `could not start ${cmd.argv[0]}: ${res.spawnError}` : res.signal ? `RUN was killed by ${res.signal}` : `RUN exited with code ${res.exitCode}`;
    const hint = res.hint ?? (res.spawnError ? `check SHELL and that the program exists ${where}` : 'see the output above; fix the command or its inputs and build again');
    s.bus.emit({ type: 'step-failed', ...info, ms, message, hint, exitCode: res.exitCode, signal: res.signal, logTail: tail });
    return { kind: 'failed', error: new UserError('STEP_FAILED', `${s.display}:${step.line}: ${message}`, hint, EXIT.stepFailed) };
  },
};

/** The argv for a RUN: exec form as is; shell form through SHELL; a RUN that is only a heredoc
 *  runs its body as the script, as BuildKit does; with a `#!` line, through that interpreter
 *  (the executor writes `script` to a file and appends its path). */
export function commandLine(ins: RunInstr, st: ConfigState): { argv: string[]; script?: string } {
  if (ins.exec) return { argv: ins.exec };
  const text = ins.shell ?? '';
  const body = (h: (typeof ins.heredocs)[number]) => (h.chomp ? h.content.replace(/^\t+/gm, '') : h.content);
  const only = ins.heredocs.length === 1 ? ins.heredocs[0]! : undefined;
  if (only && /^\s*\d*<<-?\s*["']?[^"'\s]+["']?\s*$/.test(text)) {
    const script = body(only);
    const shebang = /^#!\s*(\S+)(?:[ \t]+(.*))?/.exec(script);
    if (shebang) return { argv: [shebang[1]!, ...(shebang[2] ? [shebang[2]] : [])], script };
    return { argv: [...st.shell, script] };
  }
  // Other heredocs are handed to the shell, which reads them itself.
  const full = ins.heredocs.length ? `${text}\n${ins.heredocs.map((h) => `${h.content}${h.name}\n`).join('')}` : text;
  return { argv: [...st.shell, full] };
}

/** The stage (or local image) a `RUN --mount=type=bind,from=` reads; `k` is the mount's index. */
function mountSource(s: Session, step: PlannedStep, k: number, m: Mount): StageRun {
  const stage = s.plan.mountFrom.get(step)?.get(k);
  if (stage !== undefined) return s.runs.get(stage)!;
  const image = s.store.getImage(normalizeRef(m.from!));
  if (!image) throw stepError(s, step, 'NO_IMAGE', `RUN --mount=from=${m.from}: no stage or image by that name`, 'name a stage defined above (FROM … AS name), or an image in the local store');
  return { layers: image.layers, chain: image.chain, history: [] };
}
