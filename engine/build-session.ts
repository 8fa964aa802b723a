/**
 * What every step of one build shares: the options, the plan, the context reader, the step
 * history, the per-stage state, counters, and the executors. Stages may run concurrently
 * (engine/solver.ts); everything here is touched only between awaits, so no two steps ever
 * interleave inside one update.
 */
import type { LayerOrigin } from '../cache/layer-origin.js';
import type { LayerDigest, StepKey } from '../cache/digest.js';
import type { ImageRecord, Store } from '../cache/store-types.js';
import type { Lease } from '../cache/leases.js';
import type { ContextReader } from './context.js';
import { EXIT, UserError, type ErrorCode } from './errors.js';
import type { EventBus, StepInfo } from './events.js';
import type { Executor, ExecutorKind } from './executor-types.js';
import { rfc3339 } from './image-history.js';
import type { Plan, PlannedStep } from './plan.js';
import type { DryLayers, StageRun } from './stage-state.js';
import type { StepHistory } from './step-history.js';
import type { BuildOptions } from './build.js';

import type { RemoteCache } from './cache-import.js';
import type { FileRow, KeyRecordV1 } from './step-key.js';

export interface Session {
  readonly opts: BuildOptions;
  readonly store: Store;
  readonly bus: EventBus;
  readonly plan: Plan;
  readonly ctx: ContextReader;
  /** The Dockerfile as shown to the user, and its folder (for oci-layout:// bases). */
  readonly display: string;
  readonly dockerfileDir: string;
  /** Identifies this (context, Dockerfile): workspaces and step history hang off it. */
  readonly historyId: string;
  readonly infos: StepInfo[];
  /** Step keys by plan index - 1 (undefined for metadata steps and steps not reached). */
  readonly keys: (StepKey | undefined)[];
  readonly counters: { hits: number; misses: number; savedMs: number };
  /** Stage index → state; a stage is here once its FROM ran. */
  readonly runs: Map<number, StageRun>;
  /** Dry run: stages whose chain is unknown from a step on (stage → first unknown step). */
  readonly dirtyStages: Map<number, number>;
  readonly dryLayers: DryLayers;
  readonly history: StepHistory;
  /** What this build stands on, for prune and verify (cache/leases.ts); none in a dry run. */
  readonly lease: Lease | undefined;
  /** The executor for RUN in a stage, and its kind (part of every key of the stage). */
  executorFor(run: StageRun | undefined, step: PlannedStep): Executor;
  executorKind(step: PlannedStep): ExecutorKind;
  /** The platform built for, in OCI's form (`linux/amd64`): part of every key. */
  readonly platform: string;
  /** RFC 3339 time for history rows (SOURCE_DATE_EPOCH when set). */
  created(ms: number): string;
  /** `--cache-from`: caches looked up on a local miss (engine/cache-import.ts). */
  readonly remoteCache?: RemoteCache;
  /** `--cache-to`: each keyed step's record and COPY file rows, for the export. */
  readonly stepRecords?: Map<PlannedStep, { record: KeyRecordV1; files?: FileRow[] }>;
  /** `--cache-to`: the base image each image-based stage started from (stage index →). */
  readonly baseImages?: Map<number, ImageRecord>;
  /** Stages whose --cache-from hits have their blob downloaded at once (an OCI output only:
   *  the image ships the blobs, engine/cache-import.ts blobsOf). */
  readonly prefetchStages?: ReadonlySet<number>;
  /** Layers of the target that came from a --cache-from as blobs only (an OCI output). */
  blobOrigins?: ReadonlyMap<string, LayerOrigin>;
}

/** Timestamp for image history: SOURCE_DATE_EPOCH (seconds) when set, else `ms`. */
export function createdAt(sourceDateEpoch: number | undefined): (ms: number) => string {
  return (ms) => rfc3339(sourceDateEpoch !== undefined ? sourceDateEpoch * 1000 : ms);
}

/** A user error located at a step's instruction in the Dockerfile. */
export function stepError(session: Pick<Session, 'display'>, step: PlannedStep, code: ErrorCode, message: string, hint: string): UserError {
  const n = step.instr.node;
  return new UserError(code, message, hint, EXIT.usage, { code, message, hint, file: session.display, line: n.startLine, column: n.column, length: n.original.length });
}

export type { LayerDigest };
