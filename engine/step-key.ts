/**
 * Cache keys (DESIGN.md "Cache keys: the contract"). key = xxh64(canonical JSON of a typed
 * record). The record holds the chain digest below the step (by content, so a byte-identical
 * rebuilt layer lets later steps hit again), the config state that reaches this step's
 * execution, the expanded instruction with flags in canonical order, and the fingerprints of
 * copied files. mtimes never enter: touching a file is not a change.
 */
import { canonicalJson, xxh64 } from '../cache/hash.js';
import { asStepKey, type ChainDigest, type StepKey } from '../cache/digest.js';

/** Bump whenever the record's shape or meaning changes: old keys then simply miss. */
export const KEY_SCHEMA = 1;

/** (relative path, type, mode, content digest or link target) of one copied source. */
export type FileRow = [path: string, type: 'f' | 'd' | 'l', mode: number, digestOrTarget: string];

export interface KeyRecordV1 {
  schema: typeof KEY_SCHEMA;
  op: 'RUN' | 'COPY' | 'ADD' | 'WORKDIR';
  /** Chain digest of the filesystem below the step. */
  parent: ChainDigest;
  /** The instruction after expansion (command for RUN, sources and dest for COPY). */
  instruction: string;
  /** Flags that change the result, canonical (sorted keys). */
  flags: Record<string, string>;
  /** Environment the command sees from the image (RUN only): ENV plus ARGs in scope. */
  env?: Record<string, string>;
  workdir?: string;
  user?: string;
  shell?: string[];
  /** COPY/ADD from the context: digest and count of the sorted FileRow list (the list itself is
   *  kept beside the key, for miss explanations). */
  files?: { digest: string; count: number };
  /** COPY --from a stage or image: the source's chain digest. */
  sourceChain?: ChainDigest;
  /** RUN --mount=type=cache: target and id only; contents never enter a key. */
  cacheMounts?: { target: string; id: string }[];
}

export function stepKey(record: KeyRecordV1): StepKey {
  return asStepKey(xxh64(canonicalJson(record)));
}

/** Digest of a sorted FileRow list. */
export function filesDigest(rows: readonly FileRow[]): string {
  return xxh64(JSON.stringify(rows));
}
