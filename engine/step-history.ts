/**
 * What the last build of a Dockerfile recorded about each of its steps, so that a miss can be
 * explained against "the same step" (engine/explain-miss.ts). One document per (context,
 * Dockerfile) in the store: per stage, the ordered steps with their kind, text, key record and
 * the blob of their copied-file list. Which old step is the same as a new one is decided by
 * engine/step-match.ts, so inserting, deleting or swapping lines keeps each step's history.
 */
import { LRUCache } from 'lru-cache';
import type { BlobDigest, StepKey } from '../cache/digest.js';
import type { Lease } from '../cache/leases.js';
import type { Store } from '../cache/store-types.js';
import type { PreviousStep } from './explain-miss.js';
import type { Plan, PlannedStage, PlannedStep } from './plan.js';
import { matchStages, matchSteps } from './step-match.js';
import type { FileList, FileRow, KeyRecordV1 } from './step-key.js';

const DOC_KIND = 'steps';
/** v1 keyed steps by `stage#position`; it is ignored, not migrated (one build rebuilds it). */
const DOC_VERSION = 2;

interface StepEntry {
  kind: KeyRecordV1['op'];
  /** The instruction as written, continuation lines joined: what the matcher compares. */
  text: string;
  record: KeyRecordV1;
  /** Blob holding the JSON FileRow list of a COPY/ADD from the context. */
  filesBlob?: string;
  /** The step's key, so prune keeps `filesBlob` exactly while that key is kept. */
  key?: string;
}

interface StageEntry {
  /** The `AS` name in lower case, or null. */
  name: string | null;
  steps: StepEntry[];
}

interface StepHistoryDoc {
  v: typeof DOC_VERSION;
  /** By stage position in the Dockerfile. */
  stages: StageEntry[];
}

export interface StepHistory {
  /** The last recorded build of the same step, if any. */
  previous(step: PlannedStep): PreviousStep | undefined;
  /** The key of the last recorded build of the same step (no file list read). */
  previousKey(step: PlannedStep): StepKey | undefined;
  /** Record a step that hit or was built. */
  remember(step: PlannedStep, record: KeyRecordV1, files: FileList | undefined, key: StepKey): void;
  /** Write the document if it changed. Steps not reached (a failed build, a stage outside the
   *  target) keep what the previous document said about them. */
  flush(): void;
}

/** File lists by blob digest, for the process's life (content-addressed, so never stale): a
 *  watch session explains each miss against the list it wrote one build before, without
 *  reading and parsing its megabyte of JSON again. A few lists: one per COPY being edited.
 *  Each list's rows are built when first read (a hit never reads them). */
const recentFiles = new LRUCache<string, FileList>({ max: 4 });

/** Steps that have a cache key; only they are recorded and matched. */
const KEYED = new Set(['RUN', 'COPY', 'ADD', 'WORKDIR']);
const keyedSteps = (st: PlannedStage) => st.steps.filter((s) => KEYED.has(s.instr.kind));

/** Load the history of `id` (context and Dockerfile) and match its steps to the plan's. */
export function openStepHistory(store: Store, id: string, plan: Plan, o: { contextDir: string; lease?: Lease }): StepHistory {
  const raw = store.readDoc<StepHistoryDoc>(DOC_KIND, id);
  const prevDoc: StepHistoryDoc = raw?.v === DOC_VERSION && Array.isArray(raw.stages) ? raw : { v: DOC_VERSION, stages: [] };

  const matched = new Map<PlannedStep, StepEntry>();
  const stageMatch = matchStages(prevDoc.stages, plan.stages.map((st) => ({ name: stageName(st) })));
  plan.stages.forEach((st, k) => {
    const prevStage = stageMatch[k] === undefined ? undefined : prevDoc.stages[stageMatch[k]];
    if (!prevStage) return;
    const steps = keyedSteps(st);
    const m = matchSteps(prevStage.steps, steps.map((s) => ({ kind: s.instr.kind, text: s.text })));
    steps.forEach((s, i) => {
      const j = m[i];
      if (j !== undefined) matched.set(s, prevStage.steps[j]!);
    });
  });
  const remembered = new Map<PlannedStep, StepEntry>();
  let written = JSON.stringify(raw ?? null);

  return {
    previous(step) {
      const prev = matched.get(step);
      if (!prev) return undefined;
      let files: FileRow[] | undefined;
      if (prev.filesBlob && recentFiles.has(prev.filesBlob) && store.hasBlob(prev.filesBlob as BlobDigest)) files = recentFiles.get(prev.filesBlob)!.rows();
      else if (prev.filesBlob) {
        try {
          const buf = store.readBlob(prev.filesBlob as BlobDigest);
          if (buf) files = JSON.parse(buf.toString('utf8')) as FileRow[];
        } catch {
          files = undefined;
        }
      }
      return { record: prev.record, ...(files ? { files } : {}) };
    },

    previousKey(step) {
      return matched.get(step)?.key as StepKey | undefined;
    },

    remember(step, record, files, key) {
      const prev = matched.get(step);
      let filesBlob: string | undefined;
      if (files) {
        // An unchanged record has an unchanged file list: reuse its blob rather than rewrite
        // it, unless a prune took it. The lease keeps it from the next prune while we build.
        const same = prev?.filesBlob && JSON.stringify(prev.record) === JSON.stringify(record);
        if (same) o.lease?.add({ blobs: [prev.filesBlob!] });
        // The blob's bytes are JSON.stringify of the rows, as they always were: its name is
        // the list's digest.
        filesBlob = same && store.hasBlob(prev.filesBlob as BlobDigest) ? prev.filesBlob! : store.writeBlob(files.json()).digest;
        o.lease?.add({ blobs: [filesBlob] });
        recentFiles.set(filesBlob, files);
      }
      remembered.set(step, { kind: record.op, text: step.text, record, key, ...(filesBlob ? { filesBlob } : {}) });
    },

    flush() {
      const doc: StepHistoryDoc = {
        v: DOC_VERSION,
        stages: plan.stages.map((st) => ({
          name: stageName(st),
          steps: keyedSteps(st).flatMap((s) => {
            const e = remembered.get(s) ?? matched.get(s);
            return e ? [e] : [];
          }),
        })),
      };
      const json = JSON.stringify(doc);
      if (json === written) return;
      // The file lists live while their keys do; the document while its context does.
      const blobs = doc.stages.flatMap((st) => st.steps.flatMap((e) => (e.filesBlob && e.key ? [{ blob: e.filesBlob, key: e.key }] : [])));
      store.writeDoc(DOC_KIND, id, doc, { paths: [o.contextDir], blobs });
      written = json;
    },
  };
}

function stageName(st: PlannedStage): string | null {
  return st.name === undefined ? null : st.name.toLowerCase();
}
