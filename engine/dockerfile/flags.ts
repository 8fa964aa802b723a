/**
 * Instruction flags (`--name=value` words right after the keyword), checked against what each
 * instruction accepts, as BuildKit's `BFlags` does:
 *  - a string flag needs `=value` and may be given once;
 *  - a boolean flag is `--x`, `--x=true` or `--x=false` (any case), once;
 *  - a list flag (`--mount`, `--exclude`) needs `=value` and may repeat.
 * Every error points at the flag's own column.
 */
import { diagnostic, spanInNode, suggest } from './diagnostic.js';
import { isByteSpace } from './go-text.js';
import type { Diagnostic, Node } from './types.js';

/** `--x[=bool]`, `--x=value` once, or `--x=value` repeatable. */
export type FlagKind = 'bool' | 'string' | 'strings';
/** The flags an instruction accepts, by name without `--`. */
export type FlagSpec = Readonly<Record<string, FlagKind>>;

/** One flag occurrence, with where it was written. */
export interface FlagUse {
  name: string;
  value: string;
  /** Offset of the flag word in `node.original` (-1 if unknown). */
  offset: number;
}

/** Parsed flag values by name (only flags that were given). */
export interface ParsedFlags {
  bools: Map<string, boolean>;
  strings: Map<string, FlagUse>;
  lists: Map<string, FlagUse[]>;
}

/** Where flag `i` of `node` is, as a diagnostic span covering the raw flag word. */
export function flagSpan(node: Node, i: number): { file: string; line: number; column: number; length: number } {
  const offset = node.flagOffsets?.[i] ?? -1;
  if (offset < 0) return { file: node.file ?? 'Dockerfile', line: node.startLine, column: node.column, length: node.cmd.length || 1 };
  let end = offset;
  while (end < node.original.length && !isByteSpace(node.original.charCodeAt(end))) end++;
  return spanInNode(node, offset, end - offset);
}

/** Parse `node.flags` against `spec`. `instruction` names the instruction in messages. */
export function parseFlags(node: Node, spec: FlagSpec, instruction: string): { ok: true; value: ParsedFlags } | { ok: false; error: Diagnostic } {
  const out: ParsedFlags = { bools: new Map(), strings: new Map(), lists: new Map() };
  const seen = new Set<string>();
  const names = Object.keys(spec);
  for (let i = 0; i < node.flags.length; i++) {
    const raw = node.flags[i]!;
    const at = flagSpan(node, i);
    const offset = node.flagOffsets?.[i] ?? -1;
    const bad = (message: string, hint: string) => ({ ok: false as const, error: diagnostic('DF_BAD_FLAG', message, hint, at) });
    if (!raw.startsWith('--')) return bad(`flag ${raw} should start with --`, `write --name=value`);
    const body = raw.slice(2);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const value = eq < 0 ? '' : body.slice(eq + 1);
    const kind = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (kind === undefined) {
      const close = suggest(name, names);
      const hint = close
        ? `did you mean --${close}?`
        : names.length
          ? `${instruction} accepts ${names.map((n) => '--' + n).join(', ')}`
          : `${instruction} takes no flags`;
      return bad(`unknown flag --${name} for ${instruction}`, hint);
    }
    if (seen.has(name) && kind !== 'strings') return bad(`duplicate flag specified: --${name}`, `give --${name} only once`);
    seen.add(name);
    switch (kind) {
      case 'bool': {
        if (eq >= 0 && value === '') return bad(`missing a value on flag: --${name}`, `write --${name} or --${name}=true`);
        const lower = value.toLowerCase();
        if (lower !== '' && lower !== 'true' && lower !== 'false') {
          return bad(`expecting boolean value for flag --${name}, not: ${value}`, `write --${name}=true or --${name}=false`);
        }
        out.bools.set(name, lower !== 'false');
        break;
      }
      case 'string':
        if (eq < 0) return bad(`missing a value on flag: --${name}`, `write --${name}=<value> (with "=", no space)`);
        out.strings.set(name, { name, value, offset });
        break;
      case 'strings': {
        if (eq < 0) return bad(`missing a value on flag: --${name}`, `write --${name}=<value> (with "=", no space)`);
        const list = out.lists.get(name) ?? [];
        list.push({ name, value, offset });
        out.lists.set(name, list);
        break;
      }
    }
  }
  return { ok: true, value: out };
}
