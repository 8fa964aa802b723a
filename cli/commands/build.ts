/** `stratum build`: one build, reported as tty/plain/json progress, with Docker's exit codes. */
import { build, type BuildOptions } from '../../engine/build.js';
import type { Store } from '../../cache/store-types.js';
import { EventBus } from '../../engine/events.js';
import { createStore, defaultStoreRoot } from '../../cache/store.js';
import type { BuildCliOptions } from '../options.js';
import { attachReporter, type Streams } from '../reporters/attach.js';
import { formatError } from '../../engine/errors.js';
import { relative } from 'node:path';

export type Io = Streams;

const inCi = (env: NodeJS.ProcessEnv) => ['CI', 'CONTINUOUS_INTEGRATION'].some((k) => env[k] !== undefined && env[k] !== '0' && env[k] !== 'false');

/**
 * Choose the reporter: tty only on a terminal, and not in CI (CI logs want lines).
 * An explicit `--progress=tty` is honoured even in CI: Ink decides at import time whether it
 * may redraw (is-in-ci), so the CI variables are cleared before the UI is loaded.
 */
export function resolveProgress(p: BuildCliOptions['progress'], stdout: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): 'tty' | 'plain' | 'json' {
  if (p === 'auto') return stdout.isTTY && env.TERM !== 'dumb' && !inCi(env) ? 'tty' : 'plain';
  if (p === 'tty') {
    delete env.CI;
    delete env.CONTINUOUS_INTEGRATION;
  }
  return p;
}

/** The engine's options for a build (or a watch session) from the command line's. */
export function engineOptions(opts: BuildCliOptions, store: Store, bus: EventBus, mode: 'tty' | 'plain' | 'json') {
  return {
    store,
    bus,
    contextDir: opts.context,
    dockerfile: opts.dockerfile,
    buildArgs: opts.buildArgs,
    ...(opts.target !== undefined ? { target: opts.target } : {}),
    noCache: opts.noCache,
    tags: opts.tags,
    outputs: opts.outputs,
    envPass: opts.envPass,
    secrets: opts.secrets,
    ssh: opts.ssh,
    ...(opts.platform ? { platform: opts.platform } : {}),
    ...(opts.executor ? { executor: opts.executor } : {}),
    ...(opts.jobs !== undefined ? { jobs: opts.jobs } : {}),
    pull: opts.pull,
    insecureRegistries: opts.insecureRegistries,
    push: opts.push,
    cacheTo: opts.cacheTo,
    cacheFrom: opts.cacheFrom,
    // Only the Ink UI shows the store's size; computing it stats the whole store.
    reportStoreSize: mode === 'tty',
  } satisfies Partial<BuildOptions>;
}

export async function buildCommand(opts: BuildCliOptions, io: Io): Promise<number> {
  const store = createStore(opts.cacheDir ?? defaultStoreRoot());
  const bus = new EventBus((err) => io.stderr.write(`stratum: reporter error: ${String(err)}\n`));
  const mode = resolveProgress(opts.progress, io.stdout);
  const controller = new AbortController();
  const tui = await attachReporter(bus, mode, io, { mode: 'build', onQuit: () => controller.abort(), onRebuild: () => {} });

  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    controller.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await build({ ...engineOptions(opts, store, bus, mode), signal: controller.signal });
    await tui?.unmount();
    // The step's output tail is already on screen (the UI's failure panel, or the plain log);
    // the error itself, with its position and hint, goes to stderr in every mode.
    if (result.error) io.stderr.write(formatError(result.error) + '\n');
    for (const p of result.pushed ?? []) io.stderr.write(`pushed ${p.name}: ${p.digest}\n`);
    if (opts.metadataFile || process.env.GITHUB_STEP_SUMMARY) {
      const ci = await import('./ci-report.js');
      // The manifest digest needs every layer's gzip digest: cached by an export, else one gzip pass.
      const digests = result.ok && result.image ? await (await import('../../engine/oci/export.js')).imageDigests(store, result.image, result.blobOrigins).catch((err: unknown) => void io.stderr.write(`stratum: the image's OCI digest could not be computed: ${(err as Error).message}\n`)) : undefined;
      const meta = ci.buildMetadata(result, opts.tags, opts.outputs, digests);
      if (opts.metadataFile) ci.writeMetadataFile(opts.metadataFile, meta);
      ci.appendStepSummary(meta, opts.target ?? (relative(process.cwd(), opts.context) || '.'), process.env, (l) => io.stderr.write(l + '\n'));
    }
    if (interrupted || result.cancelled) return 130;
    return result.exitCode;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await tui?.unmount();
  }
}

