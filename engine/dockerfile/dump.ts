/**
 * BuildKit's `Node.Dump()`: the s-expression text the upstream parser tests compare against,
 * e.g. `(copy ["--from=x"] "a" "/b")` and `(onbuild (run "echo" "test"))`.
 */
import { goQuote } from './go-text.js';
import type { Node, ParsedDockerfile } from './types.js';

/** One instruction without the outer parentheses: `run "echo hi"`. */
export function dumpNode(node: Node): string {
  let s = node.cmd.toLowerCase();
  // Go's %q of a []string: ["a" "b"].
  if (node.flags.length > 0) s += ' [' + node.flags.map(goQuote).join(' ') + ']';
  for (const a of node.args) s += ' ' + goQuote(a);
  if (node.sub) s += ' (' + dumpNode(node.sub) + ')';
  return s.trim();
}

/** The whole file: one parenthesised line per instruction, each ending in `\n`. */
export function dumpDockerfile(parsed: Pick<ParsedDockerfile, 'nodes'>): string {
  let out = '';
  for (const n of parsed.nodes) out += '(' + dumpNode(n) + ')\n';
  return out;
}
