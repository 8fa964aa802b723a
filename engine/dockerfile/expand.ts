/**
 * Docker's variable substitution (BuildKit's shell lexer semantics), and where it applies.
 *
 * Expanded, exactly as BuildKit's `Expand` methods do:
 *   FROM (image, AS name, --platform), ARG defaults, ENV and LABEL (keys and values), WORKDIR,
 *   USER, VOLUME, STOPSIGNAL, EXPOSE (then split again on blanks), COPY/ADD (sources, dest,
 *   --from, --chown, --chmod, ADD's --checksum, bodies of unquoted heredocs), RUN --mount values.
 * Not expanded: RUN/CMD/ENTRYPOINT commands (a shell expands shell form, exec form is taken
 * literally), SHELL, HEALTHCHECK, MAINTAINER, ONBUILD, --exclude, --network, --security.
 *
 * Quote removal happens here (`ENV a="x y"` → `x y`). The lookup is the caller's: for
 * `ENV a=1 b=$a`, pass the environment from *before* the instruction, as Docker does.
 */
import { diagnostic, keywordSpan, spanInNode } from './diagnostic.js';
import { flagSpan } from './flags.js';
import { chompHeredocContent, parseHeredocWord } from './heredoc.js';
import { parseMount } from './mount.js';
import { processWord, processWords, type Lookup } from './shell-lex.js';
import type { Diagnostic, Heredoc, Instruction, Mount, Node, Result } from './types.js';
import { checkChmod, checkPortSpec, checkSignal, checkStageName } from './validate.js';

export type { Lookup } from './shell-lex.js';

/**
 * Expand one word (BuildKit's `ProcessWord`): `'…'` literal, `"…"` with expansion and the
 * escapes `\"` `\$` `\\`, unquoted escapes, `$V`, `${V}`, `${V:-x}` `${V-x}` `${V:+x}` `${V+x}`
 * `${V:?msg}` `${V?msg}`, `${V#p}` `${V##p}` `${V%p}` `${V%%p}` `${V/p/r}` `${V//p/r}`.
 */
export function expandWord(raw: string, lookup: Lookup, escapeToken = '\\'): Result<string, { message: string }> {
  const r = processWord(raw, lookup, { escapeToken });
  return r.ok ? { ok: true, value: r.value } : { ok: false, error: { message: r.message } };
}

/** Expand, then split on unquoted blanks (BuildKit's `ProcessWords`). */
export function expandWords(raw: string, lookup: Lookup, escapeToken = '\\'): Result<string[], { message: string }> {
  const r = processWords(raw, lookup, { escapeToken });
  return r.ok ? { ok: true, value: r.value } : { ok: false, error: { message: r.message } };
}

type Span = { file: string; line: number; column: number; length: number };

/** Internal control flow only: thrown and caught inside `expandInstruction`. */
class Stop {
  constructor(readonly diagnostic: Diagnostic) {}
}

function hintFor(message: string): string {
  if (/syntax error|unsupported modifier|unexpected end|invalid pattern/.test(message)) {
    return 'check the ${…} syntax; write \\$ for a literal dollar sign';
  }
  // ${V:?message} and ${V?message} failures.
  return 'declare the variable with ARG or ENV above this line, or pass --build-arg NAME=value';
}

/**
 * A copy of `instr` with variables substituted where Docker substitutes them. Errors (a bad
 * `${…}`, `${V:?}` on an unset variable, a value that is invalid once expanded) are
 * Diagnostics at the offending word, flag, or the instruction's keyword.
 *
 * @param escapeToken the file's escape character (`ParsedDockerfile.escapeToken`)
 */
export function expandInstruction(instr: Instruction, lookup: Lookup, escapeToken = '\\'): Result<Instruction> {
  const node = instr.node;
  const argsFrom = node.argsOffset ?? 0;
  const wordSpan = (word: string): Span => {
    const at = word === '' ? -1 : node.original.indexOf(word, argsFrom);
    return at < 0 ? keywordSpan(node) : spanInNode(node, at, word.length);
  };
  const flagAt = (name: string): Span => {
    const i = node.flags.findIndex((f) => f === `--${name}` || f.startsWith(`--${name}=`));
    return i < 0 ? keywordSpan(node) : flagSpan(node, i);
  };
  const stop = (message: string, hint: string, at: Span): never => {
    throw new Stop(diagnostic('DF_EXPAND', message, hint, at));
  };
  const word = (raw: string, at: Span = wordSpan(raw)): string => {
    const r = processWord(raw, lookup, { escapeToken });
    return r.ok ? r.value : stop(r.message, hintFor(r.message), at);
  };
  const opt = (raw: string | undefined, at: Span): string | undefined => (raw === undefined ? undefined : word(raw, at));

  try {
    switch (instr.kind) {
      case 'FROM': {
        const image = word(instr.image);
        if (image === '') stop(`base name (${instr.image}) should not be blank`, 'give FROM an image or stage name, or a default to the ARG it uses', wordSpan(instr.image));
        const out: Instruction = { ...instr, image };
        if (instr.as !== undefined) {
          const name = word(instr.as).toLowerCase();
          if (!checkStageName(name)) {
            stop(`invalid name for build stage: ${JSON.stringify(name)}, name can't start with a number or contain symbols`, 'stage names start with a letter and hold letters, digits, "-", "_" and "."', wordSpan(instr.as));
          }
          out.as = name;
        }
        const platform = opt(instr.platform, flagAt('platform'));
        if (platform !== undefined) out.platform = platform;
        return { ok: true, value: out };
      }

      case 'COPY':
      case 'ADD': {
        const sources = instr.sources.map((s) => (!node.json && parseHeredocWord(s) ? s : word(s)));
        const out: Extract<Instruction, { kind: 'COPY' | 'ADD' }> = { ...instr, sources, dest: word(instr.dest), exclude: [...instr.exclude], heredocs: instr.heredocs.map((h) => expandHeredoc(h, lookup, node, stop)) };
        const from = opt(instr.from, flagAt('from'));
        if (from !== undefined) out.from = from;
        const chown = opt(instr.chown, flagAt('chown'));
        if (chown !== undefined) out.chown = chown;
        const chmod = opt(instr.chmod, flagAt('chmod'));
        if (chmod !== undefined) {
          const bad = checkChmod(chmod);
          if (bad) stop(bad, 'write --chmod=0755 (octal) or --chmod=u+x (symbolic)', flagAt('chmod'));
          out.chmod = chmod;
        }
        const checksum = opt(instr.checksum, flagAt('checksum'));
        if (checksum !== undefined) out.checksum = checksum;
        return { ok: true, value: out };
      }

      case 'ENV':
      case 'LABEL':
        return { ok: true, value: { ...instr, pairs: instr.pairs.map((p) => ({ key: word(p.key), value: word(p.value) })) } };

      case 'ARG':
        return {
          ok: true,
          value: { ...instr, args: instr.args.map((a) => (a.default === undefined ? { name: a.name } : { name: a.name, default: word(a.default, wordSpan(`${a.name}=${a.default}`)) })) },
        };

      case 'WORKDIR':
        return { ok: true, value: { ...instr, path: word(instr.path) } };
      case 'USER':
        return { ok: true, value: { ...instr, user: word(instr.user) } };
      case 'STOPSIGNAL': {
        const signal = word(instr.signal);
        const bad = checkSignal(signal);
        if (bad) stop(bad, 'write a signal name such as SIGTERM or SIGINT, or a number', wordSpan(instr.signal));
        return { ok: true, value: { ...instr, signal } };
      }
      case 'VOLUME': {
        const paths = instr.paths.map((p) => {
          const v = word(p);
          if (v === '') stop('VOLUME specified can not be an empty string', 'give the variable a value, or remove it from VOLUME', wordSpan(p));
          return v;
        });
        return { ok: true, value: { ...instr, paths } };
      }
      case 'EXPOSE': {
        const ports: string[] = [];
        for (const p of instr.ports) {
          const r = processWords(p, lookup, { escapeToken });
          if (!r.ok) stop(r.message, hintFor(r.message), wordSpan(p));
          else {
            for (const port of r.value) {
              const bad = checkPortSpec(port);
              if (bad) stop(bad, 'write a port, a range or a port with protocol: 80, 8000-8010, 53/udp', wordSpan(p));
              ports.push(port);
            }
          }
        }
        return { ok: true, value: { ...instr, ports } };
      }

      case 'RUN': {
        const mounts: Mount[] = [];
        node.flags.forEach((f, i) => {
          if (!f.startsWith('--mount=')) return;
          const m = parseMount(f.slice('--mount='.length), false, (v) => processWord(v, lookup, { escapeToken }));
          if (!m.ok) stop(m.message, m.hint, flagSpan(node, i));
          else mounts.push(m.mount);
        });
        return { ok: true, value: { ...instr, mounts } };
      }

      case 'CMD':
      case 'ENTRYPOINT':
      case 'SHELL':
      case 'HEALTHCHECK':
      case 'MAINTAINER':
      case 'ONBUILD':
        return { ok: true, value: { ...instr } };
    }
  } catch (e) {
    if (e instanceof Stop) return { ok: false, error: e.diagnostic };
    const message = e instanceof Error ? e.message : String(e);
    return { ok: false, error: diagnostic('DF_EXPAND', `internal error while expanding: ${message}`, 'please report this Dockerfile', keywordSpan(node)) };
  }
}

/**
 * A COPY/ADD heredoc body: when its delimiter was not quoted, `$VAR`s are replaced and every
 * escape drops (`\` always, whatever the escape directive), quotes are ordinary text. `<<-`
 * bodies are un-indented first, as BuildKit does before expanding.
 */
function expandHeredoc(h: Heredoc, lookup: Lookup, node: Node, stop: (m: string, hint: string, at: Span) => never): Heredoc {
  if (!h.expand) return { ...h };
  const body = h.chomp ? chompHeredocContent(h.content) : h.content;
  const r = processWord(body, lookup, { escapeToken: '\\', skipProcessQuotes: true });
  if (!r.ok) {
    const at = node.original.indexOf('<<');
    return stop(r.message, `quote the delimiter (<<'${h.name}') to copy the body literally`, at < 0 ? keywordSpan(node) : spanInNode(node, at, 2 + h.name.length));
  }
  return { ...h, content: r.value };
}
