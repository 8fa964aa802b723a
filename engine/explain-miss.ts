/**
 * "Why did this step miss?" — compare the key record of this build with the last recorded
 * build of the same step and name the component that changed. Pure.
 */
import type { MissReason } from './events.js';
import type { FileRow, KeyRecordV1 } from './step-key.js';

export interface PreviousStep {
  record: KeyRecordV1;
  files?: FileRow[];
}

/** Names at most this many paths in the text; the full lists are in the structured reason. */
const MAX_NAMED = 3;

export function explainMiss(prev: PreviousStep | undefined, next: KeyRecordV1, nextFiles: FileRow[] | undefined): MissReason {
  if (!prev) return { kind: 'first-build', text: 'no earlier build of this step' };
  const p = prev.record;
  if (p.op !== next.op || p.instruction !== next.instruction || canon(p.flags) !== canon(next.flags)) {
    return { kind: 'instruction', text: 'instruction changed' };
  }
  if (next.files && p.files?.digest !== next.files.digest) {
    // Without the old list (its blob pruned) every path would look added: say less, not wrong.
    if (!prev.files) return { kind: 'files', text: 'copied files changed' };
    const d = diffFiles(prev.files, nextFiles ?? []);
    const parts: string[] = [];
    const name = (list: string[], verb: string) => {
      if (!list.length) return;
      const shown = list.slice(0, MAX_NAMED).join(', ');
      parts.push(`${shown}${list.length > MAX_NAMED ? ` (+${list.length - MAX_NAMED} more)` : ''} ${verb}`);
    };
    name(d.changed, 'changed');
    name(d.added, 'added');
    name(d.removed, 'removed');
    return { kind: 'files', text: parts.join('; ') || 'copied files changed', ...d };
  }
  if (next.sourceChain !== undefined && p.sourceChain !== next.sourceChain) {
    return { kind: 'source-stage', text: 'source stage changed' };
  }
  if (canon(p.mountChains) !== canon(next.mountChains)) {
    return { kind: 'source-stage', text: 'mounted stage changed' };
  }
  const vars = diffEnv(p.env ?? {}, next.env ?? {});
  if (vars.length) {
    const shown = vars.slice(0, MAX_NAMED).join(', ');
    return { kind: 'env', text: `${vars.length > 1 ? 'vars' : 'var'} ${shown}${vars.length > MAX_NAMED ? ` (+${vars.length - MAX_NAMED} more)` : ''} changed`, vars };
  }
  if (p.workdir !== next.workdir) return { kind: 'config', text: `WORKDIR changed (${p.workdir ?? '/'} → ${next.workdir ?? '/'})` };
  if (p.user !== next.user) return { kind: 'config', text: 'USER changed' };
  if (canon(p.shell) !== canon(next.shell)) return { kind: 'config', text: 'SHELL changed' };
  if (canon(p.cacheMounts) !== canon(next.cacheMounts)) return { kind: 'instruction', text: 'cache mounts changed' };
  if (p.executor !== next.executor) return { kind: 'config', text: `executor changed (${p.executor ?? '?'} → ${next.executor})` };
  if (p.runtime !== next.runtime) return { kind: 'config', text: `sandbox revision changed (${p.runtime ?? 1} → ${next.runtime ?? '-'})` };
  if (p.platform !== next.platform) return { kind: 'config', text: `platform changed (${p.platform ?? '?'} → ${next.platform})` };
  if (p.parent !== next.parent) return { kind: 'parent', text: 'parent layer changed' };
  if (p.schema !== next.schema) return { kind: 'other', text: 'cache format changed' };
  // Same record, different key cannot happen; same key means the entry was evicted.
  return { kind: 'evicted', text: 'cached layer was pruned from the store' };
}

function canon(v: unknown): string {
  return JSON.stringify(v ?? null);
}

/** Changed/added/removed paths between two FileRow lists sorted by path: one merge walk (a
 *  10k-row COPY's miss is explained in about a millisecond, no maps). Unsorted lists (never
 *  written by the engine) are sorted first. */
export function diffFiles(a: readonly FileRow[], b: readonly FileRow[]): { added: string[]; removed: string[]; changed: string[] } {
  if (!isSorted(a)) a = [...a].sort(byPath);
  if (!isSorted(b)) b = [...b].sort(byPath);
  // Directories appear and vanish with their files; name files first (each list keeps its order).
  const added = new Split();
  const removed = new Split();
  const changed = new Split();
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const o = a[i];
    const r = b[j];
    if (r === undefined || (o !== undefined && o[0] < r[0])) {
      removed.push(o!);
      i++;
    } else if (o === undefined || r[0] < o[0]) {
      added.push(r);
      j++;
    } else {
      if (o[1] !== r[1] || o[2] !== r[2] || o[3] !== r[3]) changed.push(r);
      i++;
      j++;
    }
  }
  return { added: added.list(), removed: removed.list(), changed: changed.list() };
}

/** Paths split into files (and links) and directories, in the order pushed. */
class Split {
  readonly #files: string[] = [];
  readonly #dirs: string[] = [];
  push(r: FileRow): void {
    (r[1] === 'd' ? this.#dirs : this.#files).push(r[0]);
  }
  list(): string[] {
    return this.#dirs.length ? this.#files.concat(this.#dirs) : this.#files;
  }
}

const byPath = (x: FileRow, y: FileRow) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0);

function isSorted(rows: readonly FileRow[]): boolean {
  for (let k = 1; k < rows.length; k++) if (!(rows[k - 1]![0] < rows[k]![0])) return false;
  return true;
}

function diffEnv(a: Record<string, string>, b: Record<string, string>): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) if (a[k] !== b[k]) out.push(k);
  return out.sort();
}
