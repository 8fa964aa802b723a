/**
 * The planner: typed instructions → stages and steps, with variables expanded and the config
 * state (env, ARGs in scope, workdir, user, shell) known before every step. Pure: the only
 * outside knowledge it needs (the config of a base image from the store) comes in as a function.
 */
import { parseDockerfile } from './dockerfile/parse.js';
import { toInstructions } from './dockerfile/instructions.js';
import { posix } from 'node:path';
import type { ImageConfig } from '../cache/store-types.js';
import type { Diagnostic, Instruction, Result } from './dockerfile/types.js';
import { expandInstruction } from './dockerfile/expand.js';
import { suggest } from './dockerfile/diagnostic.js';
import { hostPlatform, platformArgs, type Platform } from './platform.js';

export type StageBase =
  | { kind: 'scratch' }
  | { kind: 'stage'; stage: number }
  | { kind: 'image'; ref: string; available: boolean };

/** The config state that reaches execution, plus the image config built so far. */
export interface ConfigState {
  /** ENV in declaration order, one entry per name (a later ENV replaces the value in place). */
  env: [string, string][];
  /** ARGs in scope in this stage, with their values (undefined when declared without a value). */
  args: [string, string | undefined][];
  workdir: string;
  user: string;
  shell: string[];
  image: ImageConfig;
}

export interface PlannedStep {
  /** 1-based across the steps of needed stages; 0 for steps of stages not needed. */
  index: number;
  stage: number;
  stageName: string;
  stageIndex: number;
  stageTotal: number;
  /** The instruction with variables expanded where Docker expands them. */
  instr: Instruction;
  /** Original text, continuation lines joined. */
  text: string;
  line: number;
  /** Config state before this step runs. */
  before: ConfigState;
}

export interface PlannedStage {
  index: number;
  /** The `AS` name, or undefined. */
  name: string | undefined;
  /** Display name: the AS name or the stage number. */
  label: string;
  base: StageBase;
  /** The FROM image text after expansion. */
  from: string;
  needed: boolean;
  steps: PlannedStep[];
  /** Config state after the last step: the stage's image config. */
  final: ConfigState;
}

export interface Plan {
  stages: PlannedStage[];
  target: number;
  /** Steps of needed stages, in execution order. */
  steps: PlannedStep[];
  warnings: string[];
  /** Steps that reference another stage through COPY --from, by step: source stage index. */
  copyFrom: Map<PlannedStep, number>;
  /** RUN steps with `--mount=type=bind,from=<stage>`: the stages they read (by mount index). */
  mountFrom: Map<PlannedStep, Map<number, number>>;
}

export interface PlanOptions {
  file: string;
  buildArgs: Record<string, string>;
  target?: string;
  escapeToken?: string;
  /** Config of an image in the local store, or undefined when there is none by that name. */
  lookupImage?: (ref: string) => ImageConfig | undefined;
  /** The platform built for (`--platform`) and the one building; both default to the host.
   *  They set BuildKit's automatic ARGs (TARGETPLATFORM, TARGETARCH, BUILDPLATFORM …). */
  platform?: Platform;
  buildPlatform?: Platform;
}

export const DEFAULT_SHELL = ['/bin/sh', '-c'];

/** Plan a build. Errors are Diagnostics (bad target, bad expansion, unknown stage …). */
export function plan(instructions: Instruction[], opts: PlanOptions): Result<Plan> {
  instructions = [...instructions];
  const warnings: string[] = [];
  const esc = opts.escapeToken ?? '\\';
  const usedBuildArgs = new Set<string>();
  const diag = (instr: Instruction, code: string, message: string, hint: string): Result<Plan> => ({
    ok: false,
    error: { code, message, hint, file: opts.file, line: instr.node.startLine, column: instr.node.column, length: instr.node.cmd.length },
  });

  // Global ARGs: BuildKit's automatic platform ARGs, then everything before the first FROM.
  const host = hostPlatform();
  const globalArgs = new Map<string, string | undefined>(Object.entries(platformArgs(opts.platform ?? host, opts.buildPlatform ?? host)));
  let i = 0;
  for (; i < instructions.length; i++) {
    const ins = instructions[i]!;
    if (ins.kind === 'FROM') break;
    if (ins.kind !== 'ARG') return diag(ins, 'DF_BEFORE_FROM', `${ins.kind} comes before the first FROM`, 'only ARG may appear before FROM; move this instruction below a FROM line');
    const x = expandInstruction(ins, (n) => globalArgs.get(n), esc);
    if (!x.ok) return diag(ins, 'DF_EXPAND', x.error.message, 'check the ${…} syntax');
    for (const a of (x.value as Extract<Instruction, { kind: 'ARG' }>).args) {
      const fromCli = Object.hasOwn(opts.buildArgs, a.name) ? opts.buildArgs[a.name] : undefined;
      if (fromCli !== undefined) usedBuildArgs.add(a.name);
      // `ARG TARGETARCH` with no value keeps the automatic value, as in BuildKit.
      globalArgs.set(a.name, fromCli ?? a.default ?? globalArgs.get(a.name));
    }
  }
  if (i === instructions.length) {
    const first = instructions[0];
    return {
      ok: false,
      error: { code: 'DF_NO_FROM', message: 'the Dockerfile has no FROM instruction', hint: 'start the build with FROM scratch, FROM <stage> or FROM <image>', file: opts.file, line: first?.node.startLine ?? 1, column: 1, length: 1 },
    };
  }

  const stages: PlannedStage[] = [];
  const byName = new Map<string, number>();
  const copyFrom = new Map<PlannedStep, number>();
  const mountFrom = new Map<PlannedStep, Map<number, number>>();
  let cur: PlannedStage | undefined;
  let state: ConfigState | undefined;

  const lookupIn = (st: ConfigState) => (name: string) => {
    for (const [k, v] of st.env) if (k === name) return v;
    for (const [k, v] of st.args) if (k === name) return v;
    return undefined;
  };

  for (; i < instructions.length; i++) {
    const raw = instructions[i]!;
    if (raw.kind === 'FROM') {
      const x = expandInstruction(raw, (n) => globalArgs.get(n), esc);
      if (!x.ok) return diag(raw, 'DF_EXPAND', x.error.message, 'check the ${…} syntax');
      const from = x.value as Extract<Instruction, { kind: 'FROM' }>;
      const index = stages.length;
      const name = from.as?.toLowerCase();
      if (name !== undefined) {
        if (byName.has(name)) return diag(raw, 'DF_DUP_STAGE', `duplicate stage name "${name}"`, 'give each stage a different AS name');
        byName.set(name, index);
      }
      const ref = from.image;
      let base: StageBase;
      let baseState: ConfigState;
      const lower = ref.toLowerCase();
      if (lower === 'scratch') {
        base = { kind: 'scratch' };
        baseState = emptyState();
      } else if (byName.has(lower) && byName.get(lower)! < index) {
        const s = byName.get(lower)!;
        base = { kind: 'stage', stage: s };
        baseState = { ...cloneState(stages[s]!.final), args: [] };
      } else {
        const cfg = opts.lookupImage?.(ref);
        base = { kind: 'image', ref, available: cfg !== undefined };
        baseState = stateFromImage(cfg ?? {});
      }
      // The base's ONBUILD triggers run right after FROM, as Docker runs them; the new image
      // does not inherit them.
      const triggers = baseState.image.OnBuild ?? [];
      if (triggers.length) delete baseState.image.OnBuild;
      cur = { index, name, label: name ?? String(index), base, from: ref, needed: false, steps: [], final: baseState };
      stages.push(cur);
      state = baseState;
      cur.steps.push(step(cur, from, raw, cloneState(state)));
      if (triggers.length) {
        const t = onBuildInstructions(triggers, raw, opts.file);
        if (!t.ok) return diag(raw, 'DF_ONBUILD', `ONBUILD trigger of ${ref}: ${t.message}`, t.hint);
        instructions = [...instructions.slice(0, i + 1), ...t.value, ...instructions.slice(i + 1)];
      }
      continue;
    }
    if (!cur || !state) throw new Error('unreachable: instruction outside a stage');
    const before = cloneState(state);
    let ins: Instruction = raw;
    const x = expandInstruction(raw, lookupIn(state), esc);
    if (!x.ok) return diag(raw, 'DF_EXPAND', x.error.message, 'check the ${…} syntax and that the variable is declared with ARG or ENV before this line');
    ins = x.value;
    const s = step(cur, ins, raw, before);
    cur.steps.push(s);
    const err = applyToState(state, ins, globalArgs, opts.buildArgs, usedBuildArgs);
    if (err) return diag(raw, err.code, err.message, err.hint);
    if ((ins.kind === 'COPY' || ins.kind === 'ADD') && ins.from !== undefined) {
      const ref = ins.from.toLowerCase();
      const n = byName.has(ref) ? byName.get(ref)! : /^\d+$/.test(ref) ? Number(ref) : undefined;
      if (n !== undefined) {
        if (n >= cur.index) return diag(raw, 'DF_STAGE_ORDER', `COPY --from=${ins.from} refers to this stage or a later one`, 'a stage can copy only from stages defined above it');
        copyFrom.set(s, n);
      }
      // Otherwise: an image name; the builder resolves it from the store.
    }
    if (ins.kind === 'RUN') {
      for (const [k, m] of ins.mounts.entries()) {
        if (m.from === undefined || m.type !== 'bind') continue;
        const ref = m.from.toLowerCase();
        const n = byName.has(ref) ? byName.get(ref)! : /^\d+$/.test(ref) ? Number(ref) : undefined;
        if (n === undefined) continue; // an image name, resolved from the store
        if (n >= cur.index) return diag(raw, 'DF_STAGE_ORDER', `RUN --mount=from=${m.from} refers to this stage or a later one`, 'a stage can mount only stages defined above it');
        if (!mountFrom.has(s)) mountFrom.set(s, new Map());
        mountFrom.get(s)!.set(k, n);
      }
    }
    cur.final = state;
  }

  // Target and the stages it needs.
  let target = stages.length - 1;
  if (opts.target !== undefined) {
    const t = byName.get(opts.target.toLowerCase());
    if (t === undefined) {
      const names = [...byName.keys()];
      return {
        ok: false,
        error: {
          code: 'DF_TARGET',
          message: `target stage "${opts.target}" not found`,
          hint: names.length ? `${didYouMean(opts.target, names)}stages in this Dockerfile: ${names.join(', ')}` : 'this Dockerfile names no stages (FROM … AS name)',
          file: opts.file,
          line: 1,
          column: 1,
          length: 1,
        },
      };
    }
    target = t;
  }
  const mark = (n: number) => {
    const st = stages[n]!;
    if (st.needed) return;
    st.needed = true;
    if (st.base.kind === 'stage') mark(st.base.stage);
    for (const s of st.steps) {
      const from = copyFrom.get(s);
      if (from !== undefined) mark(from);
      for (const n of mountFrom.get(s)?.values() ?? []) mark(n);
    }
  };
  mark(target);

  const steps: PlannedStep[] = [];
  for (const st of stages) {
    st.steps.forEach((s, k) => {
      s.stageIndex = k + 1;
      s.stageTotal = st.steps.length;
    });
    if (st.needed) for (const s of st.steps) steps.push(s);
  }
  steps.forEach((s, k) => (s.index = k + 1));

  const unused = Object.keys(opts.buildArgs).filter((k) => !usedBuildArgs.has(k));
  if (unused.length) warnings.push(`build-arg${unused.length > 1 ? 's' : ''} not consumed by any ARG: ${unused.join(', ')}`);
  return { ok: true, value: { stages, target, steps, warnings, copyFrom, mountFrom } };
}

function step(stage: PlannedStage, instr: Instruction, raw: Instruction, before: ConfigState): PlannedStep {
  return { index: 0, stage: stage.index, stageName: stage.label, stageIndex: 0, stageTotal: 0, instr, text: raw.node.original, line: raw.node.startLine, before };
}

export function emptyState(): ConfigState {
  return { env: [], args: [], workdir: '/', user: '', shell: [...DEFAULT_SHELL], image: {} };
}

function stateFromImage(cfg: ImageConfig): ConfigState {
  const env: [string, string][] = [];
  for (const kv of cfg.Env ?? []) {
    const eq = kv.indexOf('=');
    env.push(eq < 0 ? [kv, ''] : [kv.slice(0, eq), kv.slice(eq + 1)]);
  }
  return { env, args: [], workdir: cfg.WorkingDir || '/', user: cfg.User ?? '', shell: cfg.Shell ? [...cfg.Shell] : [...DEFAULT_SHELL], image: structuredClone(cfg) };
}

export function cloneState(s: ConfigState): ConfigState {
  return { env: s.env.map(([k, v]) => [k, v]), args: s.args.map(([k, v]) => [k, v]), workdir: s.workdir, user: s.user, shell: [...s.shell], image: structuredClone(s.image) };
}

/** The environment a RUN sees from the image: ARGs in scope overlaid by ENV (ENV wins, as in Docker). */
export function runEnv(s: ConfigState): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of s.args) if (v !== undefined) out[k] = v;
  for (const [k, v] of s.env) out[k] = v;
  return out;
}

function setEnv(s: ConfigState, key: string, value: string): void {
  const at = s.env.findIndex(([k]) => k === key);
  if (at >= 0) s.env[at] = [key, value];
  else s.env.push([key, value]);
  s.image.Env = s.env.map(([k, v]) => `${k}=${v}`);
}

/** Resolve a WORKDIR against the current one, as an absolute, normalized path. */
export function resolveWorkdir(current: string, path: string): string {
  return posix.resolve(current || '/', path);
}

function applyToState(
  s: ConfigState,
  ins: Instruction,
  globalArgs: Map<string, string | undefined>,
  buildArgs: Record<string, string>,
  used: Set<string>,
): { code: string; message: string; hint: string } | undefined {
  switch (ins.kind) {
    case 'ENV':
      for (const p of ins.pairs) setEnv(s, p.key, p.value);
      return;
    case 'ARG':
      for (const a of ins.args) {
        let v: string | undefined;
        if (Object.hasOwn(buildArgs, a.name)) {
          v = buildArgs[a.name];
          used.add(a.name);
        } else if (a.default !== undefined) v = a.default;
        else v = globalArgs.get(a.name);
        const at = s.args.findIndex(([k]) => k === a.name);
        if (at >= 0) s.args[at] = [a.name, v];
        else s.args.push([a.name, v]);
      }
      return;
    case 'WORKDIR':
      s.workdir = resolveWorkdir(s.workdir, ins.path);
      s.image.WorkingDir = s.workdir;
      return;
    case 'USER':
      s.user = ins.user;
      s.image.User = ins.user;
      return;
    case 'SHELL':
      s.shell = [...ins.shell];
      s.image.Shell = [...ins.shell];
      return;
    case 'CMD':
      s.image.Cmd = ins.exec ?? [...s.shell, ins.shell ?? ''];
      return;
    case 'ENTRYPOINT':
      s.image.Entrypoint = ins.exec ?? [...s.shell, ins.shell ?? ''];
      // Docker: a new ENTRYPOINT drops a CMD inherited from the base image; here a CMD set
      // earlier in this stage stays only if it came after, which is the common expectation.
      return;
    case 'LABEL':
      s.image.Labels = { ...(s.image.Labels ?? {}) };
      for (const p of ins.pairs) s.image.Labels[p.key] = p.value;
      return;
    case 'EXPOSE':
      s.image.ExposedPorts = { ...(s.image.ExposedPorts ?? {}) };
      for (const p of ins.ports) s.image.ExposedPorts[p.includes('/') ? p : `${p}/tcp`] = {};
      return;
    case 'VOLUME':
      s.image.Volumes = { ...(s.image.Volumes ?? {}) };
      for (const p of ins.paths) s.image.Volumes[p] = {};
      return;
    case 'STOPSIGNAL':
      s.image.StopSignal = ins.signal;
      return;
    case 'HEALTHCHECK':
      s.image.Healthcheck = ins.test === null ? { Test: ['NONE'] } : { Test: ins.test };
      return;
    case 'ONBUILD':
      s.image.OnBuild = [...(s.image.OnBuild ?? []), ins.expression];
      return;
    case 'MAINTAINER':
      s.image.Labels = { ...(s.image.Labels ?? {}), maintainer: ins.name };
      return;
    case 'RUN':
    case 'COPY':
    case 'ADD':
    case 'FROM':
      return;
  }
}

/** `did you mean "build"? ` when a name is close to one of the candidates, else nothing. */
function didYouMean(word: string, candidates: readonly string[]): string {
  const s = suggest(word, candidates);
  return s !== undefined ? `did you mean "${s}"? ` : '';
}

/**
 * A base image's ONBUILD triggers as instructions of the stage that builds FROM it, each
 * shown as `ONBUILD <trigger>` on the FROM line. Docker refuses FROM, ONBUILD and
 * MAINTAINER as triggers.
 */
function onBuildInstructions(triggers: readonly string[], from: Instruction, file: string): { ok: true; value: Instruction[] } | { ok: false; message: string; hint: string } {
  const hint = 'the base image was built with an ONBUILD that cannot run; rebuild it, or start from another image';
  const out: Instruction[] = [];
  for (const trigger of triggers) {
    // Parsed after a FROM line, which the parser wants first, then dropped.
    const parsed = parseDockerfile(`FROM scratch\n${trigger}\n`, file);
    const ins = parsed.ok ? toInstructions(parsed.value) : parsed;
    if (!ins.ok) return { ok: false, message: `"${trigger}" does not parse: ${ins.error.message}`, hint };
    for (const i of ins.value.slice(1)) {
      if (i.kind === 'FROM' || i.kind === 'ONBUILD' || i.kind === 'MAINTAINER') return { ok: false, message: `${i.kind} is not allowed as an ONBUILD trigger ("${trigger}")`, hint };
      i.node = { ...i.node, startLine: from.node.startLine, endLine: from.node.endLine, column: from.node.column, original: `ONBUILD ${i.node.original}` };
      out.push(i);
    }
  }
  return { ok: true, value: out };
}
