/**
 * The record of the last build of each step of one Dockerfile in one context, kept in the
 * store so that a miss can be explained against it ("src/app.js changed"). Steps are
 * identified by stage and position.
 */
import type { Store } from '../cache/store-types.js';
import type { PreviousStep } from './explain-miss.js';
import type { PlannedStep } from './plan.js';
import type { FileRow, KeyRecordV1 } from './step-key.js';

interface StepHistoryDoc {
  v: 1;
  steps: Record<string, { record: KeyRecordV1; filesBlob?: string }>;
}

export class StepHistory {
  readonly #store: Store;
  readonly #id: string;
  readonly #doc: StepHistoryDoc;
  #dirty = false;

  constructor(store: Store, id: string) {
    this.#store = store;
    this.#id = id;
    const prev = store.readDoc<StepHistoryDoc>('steps', id);
    this.#doc = prev?.v === 1 ? prev : { v: 1, steps: {} };
  }

  previous(step: PlannedStep): PreviousStep | undefined {
    const prev = this.#doc.steps[identity(step)];
    if (!prev) return undefined;
    let files: FileRow[] | undefined;
    if (prev.filesBlob) {
      try {
        const buf = this.#store.readBlob(prev.filesBlob as never);
        if (buf) files = JSON.parse(buf.toString('utf8')) as FileRow[];
      } catch {
        files = undefined;
      }
    }
    return { record: prev.record, ...(files ? { files } : {}) };
  }

  remember(step: PlannedStep, record: KeyRecordV1, rows: FileRow[] | undefined): void {
    const id = identity(step);
    const prev = this.#doc.steps[id];
    if (prev && JSON.stringify(prev.record) === JSON.stringify(record)) return;
    let filesBlob: string | undefined;
    if (rows) filesBlob = this.#store.writeBlob(Buffer.from(JSON.stringify(rows))).digest;
    this.#doc.steps[id] = { record, ...(filesBlob ? { filesBlob } : {}) };
    this.#dirty = true;
  }

  flush(): void {
    if (this.#dirty) this.#store.writeDoc('steps', this.#id, this.#doc);
    this.#dirty = false;
  }
}

const identity = (step: PlannedStep) => `${step.stageName}#${step.stageIndex}`;
