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
  if (p.platform !== next.platform) return { kind: 'config', text: `platform changed (${p.platform ?? '?'} → ${next.platform})` };
  if (p.parent !== next.parent) return { kind: 'parent', text: 'parent layer changed' };
  if (p.schema !== next.schema) return { kind: 'other', text: 'cache format changed' };
  // Same record, different key cannot happen; same key means the entry was evicted.
  return { kind: 'evicted', text: 'cached layer was pruned from the store' };
}

function canon(v: unknown): string {
  return JSON.stringify(v ?? null);
}

/** Changed/added/removed paths between two sorted FileRow lists. */
export function diffFiles(a: readonly FileRow[], b: readonly FileRow[]): { added: string[]; removed: string[]; changed: string[] } {
  const before = new Map(a.map((r) => [r[0], r]));
  const added: string[] = [];
  const changed: string[] = [];
  for (const r of b) {
    const o = before.get(r[0]);
    if (!o) added.push(r[0]);
    else {
      before.delete(r[0]);
      if (o[1] !== r[1] || o[2] !== r[2] || o[3] !== r[3]) changed.push(r[0]);
    }
  }
  // Directories appear and vanish with their files; name files first.
  const removed = [...before.keys()];
  const filesFirst = (list: string[], rows: Map<string, FileRow>) =>
    list.sort((x, y) => Number(rows.get(x)?.[1] === 'd') - Number(rows.get(y)?.[1] === 'd'));
  const all = new Map([...a.map((r) => [r[0], r] as const), ...b.map((r) => [r[0], r] as const)]);
  return { added: filesFirst(added, all), removed: filesFirst(removed, all), changed: filesFirst(changed, all) };
}

function diffEnv(a: Record<string, string>, b: Record<string, string>): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) if (a[k] !== b[k]) out.push(k);
  return out.sort();
}
