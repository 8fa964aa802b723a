/**
 * The engine's event stream. The engine never writes to stdout or stderr: it emits these,
 * and reporters (Ink TUI, plain lines, NDJSON) subscribe. One discriminated union on
 * `type`; every switch over it ends in `unreachable(x)`.
 *
 * Stability: the fields that DESIGN.md lists for `step-done` and `build-done` are a public
 * contract (they are printed by `--progress=json`). Other fields and event types may be added.
 */

/** A step as the plan knows it before it runs. */
export interface StepInfo {
  /** 1-based position among all steps this build runs, across stages. */
  index: number;
  /** Number of steps this build runs. */
  total: number;
  /** Stage name (`AS name`), or its 0-based number as a string when unnamed. */
  stage: string;
  /** 1-based position within its stage ([stage i/n]). */
  stageIndex: number;
  stageTotal: number;
  /** The instruction as written, continuation lines joined (e.g. `COPY src/ ./src/`). */
  instruction: string;
  /** Dockerfile line where the instruction starts. */
  line: number;
}

/** Why a step missed the cache, as data; `text` is what reporters print. */
export interface MissReason {
  /** Short human text: `src/app.ts changed`, `ARG VERSION changed`, `parent layer changed`, `no cache for this step`. */
  text: string;
  kind:
    | 'no-cache-flag' // --no-cache or forced
    | 'first-build' // no earlier record of this step
    | 'parent' // the chain below changed
    | 'instruction' // the instruction text (after expansion) changed
    | 'env' // an ENV/ARG in scope changed
    | 'config' // workdir, user or shell changed
    | 'files' // COPY/ADD sources changed
    | 'source-stage' // COPY --from stage changed
    | 'evicted' // the record exists but its layer is gone from the store
    | 'other';
  /** For `files`: paths relative to the context. */
  added?: string[];
  removed?: string[];
  changed?: string[];
  /** For `env`: names of the variables that changed. */
  vars?: string[];
}

export type BuildEvent =
  | {
      type: 'build-start';
      /** Increments with every build of one `stratum watch` session; 1 for `stratum build`. */
      build: number;
      target: string;
      steps: StepInfo[];
      time: number;
      /** The Dockerfile as shown in diagnostics (relative to the working directory), so that a
       *  reporter can quote the failing lines. */
      dockerfile?: string;
    }
  | ({
      type: 'step-start';
      time: number;
      /** For steps with a cache key (RUN, COPY, ADD, WORKDIR): whether it hit, known before it runs. */
      cached?: boolean;
      /** Miss reason text, when it missed. */
      reason?: string;
      /** FROM and metadata-only steps: they have no cache key (see step-done). */
      metadata?: true;
    } & StepInfo)
  | {
      type: 'step-log';
      index: number;
      stream: 'stdout' | 'stderr';
      /** One line of output, without its newline. */
      line: string;
    }
  | ({
      type: 'step-done';
      cached: boolean;
      /** The layer digest, null for a metadata-only step (ENV, CMD, …) or FROM. */
      layer: string | null;
      /** Layer size in bytes (sum of its files); 0 for metadata-only. */
      size: number;
      /** Wall time of this step in this build. */
      ms: number;
      /** Miss reason text; absent on hits. */
      reason?: string;
      why?: MissReason;
      /** FROM and metadata-only steps: neither a hit nor a miss (`cached` is false). */
      metadata?: true;
      /** On hits: how long the step took when it was built (the time the cache saved). */
      savedMs?: number;
    } & StepInfo)
  | ({
      type: 'step-failed';
      ms: number;
      message: string;
      hint?: string;
      exitCode?: number | null;
      signal?: string | null;
      /** Last lines of the step's output. */
      logTail: string[];
    } & StepInfo)
  | ({ type: 'step-cancelled'; ms: number } & StepInfo)
  | {
      type: 'build-done';
      build: number;
      ok: boolean;
      /** Steps that hit / missed the cache. FROM and metadata-only steps (ENV, CMD, …) are
       *  neither: they have no cache key (their step-done says `metadata: true`). */
      hits: number;
      misses: number;
      ms: number;
      savedMs: number;
      cancelled?: boolean;
      error?: BuildError;
      /** Total bytes of the store after the build, when known. */
      storeSize?: number;
      outputs?: string[];
      /** Images pushed to a registry (`--push`, `-o type=registry`): reference and manifest digest. */
      pushed?: { name: string; digest: string }[];
      /** On success: the tags stored (normalized, e.g. `docker.io/library/app:dev` as given) and
       *  the image's chain digest (its IMAGE ID in `stratum images`). */
      tags?: string[];
      image?: string;
    }
  | {
      type: 'watch-state';
      state: 'watching' | 'debouncing' | 'building' | 'cancelling' | 'stopped';
    }
  | {
      type: 'watch-change';
      /** Paths relative to the context (or the Dockerfile name). */
      files: string[];
      /** The first step whose key changed (1-based index), if known. */
      fromStep?: number;
      dockerfile?: boolean;
    }
  | {
      /** The watcher saw changes and decided not to build: every step's key is the one the
       *  last build had (a save without a change, or a file no step reads). */
      type: 'watch-skip';
      /** The changed paths it looked at, as in `watch-change`. */
      files: string[];
      reason: 'no key changed';
    }
  | {
      /** A build found a store directory busy (another build of the same project, or of the
       *  same cache mount): it took another slot, or waited for the one it must have. */
      type: 'contention';
      resource: 'workspace' | 'cache-mount';
      /** The stage (workspaces) or the cache mount id. */
      name: string;
      /** Step that needed it (1-based), when known. */
      index?: number;
      /** The slot it got (`<id>/<slot>`): 0 is the first. */
      slot: number;
      /** How long it waited for a slot, 0 when it took a free one at once. */
      waitedMs: number;
    }
  | {
      /** `watch --run`: the container started from the last good image changed state. */
      type: 'container-state';
      name: string;
      id: string;
      image: string;
      state: 'starting' | 'running' | 'stopping' | 'exited' | 'failed';
      exitCode?: number | null;
      message?: string;
    }
  | {
      /** watch --run: one line the container wrote (also in its log, `stratum logs NAME`). */
      type: 'container-log';
      name: string;
      stream: 'stdout' | 'stderr';
      line: string;
    }
  | {
      type: 'warning';
      message: string;
      file?: string;
      line?: number;
    };

/** A failed build's error, as `build-done` carries it: the message and hint, the error's
 *  code, and where it is when it is a Dockerfile position (`file:line:col`, span length). */
export interface BuildError {
  message: string;
  hint?: string;
  code?: string;
  file?: string;
  line?: number;
  column?: number;
  length?: number;
}

export type BuildEventType = BuildEvent['type'];

export type Listener = (event: BuildEvent) => void;

/** A tiny synchronous event bus: emit() calls each listener in order; a throwing listener
 *  does not stop the others (its error is reported through `onListenerError`). */
export class EventBus {
  #listeners = new Set<Listener>();
  constructor(private readonly onListenerError: (err: unknown) => void = () => {}) {}
  on(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  emit(event: BuildEvent): void {
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
}

/** Exhaustiveness check for switches over unions. */
export function unreachable(x: never): never {
  throw new Error(`unreachable: ${JSON.stringify(x)}`);
}
