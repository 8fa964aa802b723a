/**
 * `stratum plan`: what a build would do, without running it (turbo's --dry=json). Stages,
 * their steps with expanded arguments, and — keys computed against the store — which steps
 * would hit the cache and why the others would miss.
 */
import { existsSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { build } from '../../engine/build.js';
import { EventBus, type BuildEvent } from '../../engine/events.js';
import { EXIT } from '../../engine/errors.js';
import { loadDockerfile } from '../../engine/load.js';
import type { Instruction, Node } from '../../engine/dockerfile/types.js';
import { checkStoreRoot } from '../../engine/preflight.js';
import { createStore, defaultStoreRoot } from '../../cache/store.js';
import type { BuildCliOptions } from '../options.js';
import type { Io } from './build.js';

type Args = string | string[];

/** Arguments as the parser split them: the command string for shell form, the array otherwise. */
function parsedArgs(n: Node): Args {
  const shellForm = ['run', 'cmd', 'entrypoint'].includes(n.cmd) && !n.json;
  return shellForm ? (n.args[0] ?? '') : n.args;
}

/** Arguments after expansion, from the typed instruction. */
function expandedArgs(i: Instruction): Args {
  switch (i.kind) {
    case 'RUN':
    case 'CMD':
    case 'ENTRYPOINT':
      return i.exec ?? i.shell ?? '';
    case 'COPY':
    case 'ADD':
      return [...i.sources, i.dest];
    case 'FROM':
      return i.as ? [i.image, 'AS', i.as] : [i.image];
    case 'ENV':
    case 'LABEL':
      return i.pairs.map((p) => `${p.key}=${p.value}`);
    case 'ARG':
      return i.args.map((a) => (a.default !== undefined ? `${a.name}=${a.default}` : a.name));
    case 'WORKDIR':
      return [i.path];
    case 'USER':
      return [i.user];
    case 'SHELL':
      return i.shell;
    case 'EXPOSE':
      return i.ports;
    case 'VOLUME':
      return i.paths;
    case 'STOPSIGNAL':
      return [i.signal];
    case 'HEALTHCHECK':
      return i.test ?? ['NONE'];
    case 'ONBUILD':
      return [i.expression];
    case 'MAINTAINER':
      return [i.name];
  }
}

export async function planCommand(opts: BuildCliOptions, io: Io): Promise<number> {
  const storeRoot = opts.cacheDir ?? defaultStoreRoot();
  checkStoreRoot(storeRoot, false);
  const store = existsSync(storeRoot) ? createStore(storeRoot) : undefined;
  const display = relative(process.cwd(), resolve(opts.dockerfile)) || opts.dockerfile;
  const loaded = loadDockerfile(opts.dockerfile, display, { buildArgs: opts.buildArgs, ...(opts.target !== undefined ? { target: opts.target } : {}), ...(opts.platform ? { platform: opts.platform } : {}), ...(store ? { store } : {}) });
  const { plan } = loaded;

  // Cache predictions: a dry-run build against the store, when there is one.
  const verdicts = new Map<number, { cached: boolean; reason?: string }>();
  let cacheNote: string | undefined;
  const missingBase = plan.stages.find((s) => s.needed && s.base.kind === 'image' && !s.base.available);
  if (missingBase && missingBase.base.kind === 'image') {
    const ref = missingBase.base.ref;
    const registry = ref.startsWith('oci-layout://') ? undefined : await registryOf(ref);
    cacheNote = registry
      ? `base image "${ref}" is not in the local store: a build would pull it from ${registry} (stratum plan does not pull)`
      : `base image "${ref}" is not in the local store: a build would fail until it is built or loaded`;
  }
  else if (!store) cacheNote = `no store at ${storeRoot}: every step would run`;
  else {
    const bus = new EventBus();
    let failure: string | undefined;
    bus.on((e: BuildEvent) => {
      if (e.type === 'step-done' && !e.metadata) verdicts.set(e.index, { cached: e.cached, ...(e.reason ? { reason: e.reason } : {}) });
      if (e.type === 'build-done' && e.error) failure = e.error.message;
    });
    await build({
      store,
      bus,
      contextDir: opts.context,
      dockerfile: opts.dockerfile,
      buildArgs: opts.buildArgs,
      ...(opts.target !== undefined ? { target: opts.target } : {}),
      // The executor and platform are part of every key: predict with the build's own.
      ...(opts.executor ? { executor: opts.executor } : {}),
      ...(opts.platform ? { platform: opts.platform } : {}),
      noCache: opts.noCache,
      // A step found in a --cache-from cache would hit (no layer is downloaded by a dry run).
      ...(opts.cacheFrom.length ? { cacheFrom: opts.cacheFrom, insecureRegistries: opts.insecureRegistries } : {}),
      dryRun: true,
    });
    if (failure) cacheNote = `a build would fail: ${failure}`;
  }

  const json = {
    file: display,
    target: plan.stages[plan.target]!.label,
    instructions: loaded.parsed.nodes.map((n) => ({ instruction: n.cmd.toUpperCase(), line: n.startLine, args: parsedArgs(n), ...(n.flags.length ? { flags: n.flags } : {}) })),
    stages: plan.stages.map((s) => ({
      name: s.name ?? null,
      index: s.index,
      base: s.from,
      baseKind: s.base.kind,
      ...(s.base.kind === 'image' ? { baseAvailable: s.base.available } : {}),
      needed: s.needed,
      steps: s.steps.map((st) => {
        const v = s.needed ? verdicts.get(st.index) : undefined;
        return {
          instruction: st.instr.kind,
          text: st.text,
          line: st.line,
          args: expandedArgs(st.instr),
          ...(st.instr.node.flags.length ? { flags: st.instr.node.flags } : {}),
          cached: v ? v.cached : null,
          reason: v?.reason ?? null,
        };
      }),
    })),
    ...(cacheNote ? { note: cacheNote } : {}),
    warnings: plan.warnings,
  };
  if (opts.format === 'json') {
    io.stdout.write(JSON.stringify(json, null, 2) + '\n');
    return EXIT.ok;
  }
  const out: string[] = [`${display}: target ${json.target}`];
  for (const s of json.stages) {
    out.push('');
    out.push(`stage ${s.name ?? s.index} (FROM ${s.base})${s.needed ? '' : '  — not needed for this target'}`);
    s.steps.forEach((st, i) => {
      const verdict = st.cached === null ? '' : st.cached ? '  CACHED' : `  RUN: ${st.reason}`;
      out.push(`  ${String(i + 1).padStart(2)}. ${st.text}${verdict}`);
    });
  }
  if (cacheNote) out.push('', `note: ${cacheNote}`);
  for (const w of plan.warnings) out.push(`warning: ${w}`);
  io.stdout.write(out.join('\n') + '\n');
  return EXIT.ok;
}

/** The registry a base reference names, or undefined when it is not a valid reference. */
async function registryOf(ref: string): Promise<string | undefined> {
  try {
    return (await import('../../engine/registry/reference.js')).parseReference(ref).registry;
  } catch {
    return undefined;
  }
}
