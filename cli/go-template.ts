/**
 * The subset of Go's text/template that `docker … --format` users type every day:
 * literal text, `{{.Field}}`, `{{.Field.Sub}}`, `{{json .Field}}` and `{{json .}}`, and the
 * escapes `\t` and `\n` (docker's `table` prefix is not supported). Anything else is a usage
 * error naming what is supported, never a silently wrong line.
 */
import { usageError } from './usage.js';

type Part = { text: string } | { path: string[]; json: boolean };

export function compileTemplate(source: string, command: string): (data: unknown) => string {
  const parts: Part[] = [];
  const re = /\{\{\s*(.*?)\s*\}\}/g;
  let last = 0;
  for (let m = re.exec(source); m; m = re.exec(source)) {
    parts.push({ text: source.slice(last, m.index) });
    const action = m[1]!;
    const am = /^(json\s+)?\.([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)?$/.exec(action);
    if (!am) throw usageError(`${command}: --format: "{{${action}}}" is not supported`, 'supported: {{.Field}}, {{.Field.Sub}}, {{json .Field}}, {{json .}}');
    parts.push({ path: am[2] ? am[2].split('.') : [], json: am[1] !== undefined });
    last = re.lastIndex;
  }
  parts.push({ text: source.slice(last) });
  for (const p of parts) if ('text' in p) p.text = p.text.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  return (data) =>
    parts
      .map((p) => {
        if ('text' in p) return p.text;
        let v: unknown = data;
        for (const k of p.path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
        if (p.json) return JSON.stringify(v ?? null);
        return goValue(v);
      })
      .join('');
}

/** How Go's template prints a value: `<no value>` for a missing one, `[a b]` for a list, `map[k:v]` for a map. */
function goValue(v: unknown): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (Array.isArray(v)) return `[${v.map(goValue).join(' ')}]`;
  if (typeof v === 'object') return `map[${Object.keys(v).sort().map((k) => `${k}:${goValue((v as Record<string, unknown>)[k])}`).join(' ')}]`;
  return String(v);
}
