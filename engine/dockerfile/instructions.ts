/**
 * From BuildKit's AST to typed instructions: keywords checked, flags parsed and validated per
 * instruction, argument counts and forms checked, as BuildKit's `instructions` package does.
 *
 * Arguments stay raw (quotes, escapes and `$VAR`s intact); `expandInstruction` (expand.ts)
 * substitutes them later, when the ARG/ENV state is known. Values that contain `$` are
 * therefore checked only after expansion (e.g. `--chmod=$MODE`).
 *
 * Every error is a Diagnostic naming file:line:column, with a hint.
 */
import { diagnostic, keywordSpan, spanInNode, suggest } from './diagnostic.js';
import { flagSpan, parseFlags, type FlagSpec, type ParsedFlags } from './flags.js';
import { isSpace } from './go-text.js';
import { parseHeredocWord } from './heredoc.js';
import { parseMount } from './mount.js';
import type { Diagnostic, Instruction, InstructionKind, Mount, Node, ParsedDockerfile, Result } from './types.js';
import { checkChmod, checkHealthDuration, checkPortSpec, checkSignal, checkStageName } from './validate.js';

/** Every instruction Docker knows, in the order the reference lists them. */
export const INSTRUCTION_KINDS: readonly InstructionKind[] = [
  'FROM', 'RUN', 'CMD', 'LABEL', 'MAINTAINER', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME',
  'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL',
];

/** The flags each instruction accepts (BuildKit's stable frontend). */
export const FLAG_SPECS: Readonly<Record<InstructionKind, FlagSpec>> = {
  FROM: { platform: 'string' },
  RUN: { mount: 'strings', network: 'string', security: 'string', device: 'strings' },
  COPY: { from: 'string', chown: 'string', chmod: 'string', link: 'bool', parents: 'bool', exclude: 'strings' },
  ADD: { chown: 'string', chmod: 'string', link: 'bool', 'keep-git-dir': 'bool', checksum: 'string', unpack: 'bool', exclude: 'strings' },
  HEALTHCHECK: { interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string' },
  CMD: {}, LABEL: {}, MAINTAINER: {}, EXPOSE: {}, ENV: {}, ENTRYPOINT: {}, VOLUME: {}, USER: {},
  WORKDIR: {}, ARG: {}, ONBUILD: {}, STOPSIGNAL: {}, SHELL: {},
};

type Span = { file: string; line: number; column: number; length: number };
type Res<T> = { ok: true; value: T } | { ok: false; error: Diagnostic };

const err = (code: Parameters<typeof diagnostic>[0], message: string, hint: string, at: Span): { ok: false; error: Diagnostic } => ({
  ok: false,
  error: diagnostic(code, message, hint, at),
});

/** The span of the node's arguments (after keyword and flags). */
function argsSpan(node: Node): Span {
  const off = node.argsOffset ?? 0;
  if (off >= node.original.length) return keywordSpan(node);
  return spanInNode(node, off, node.original.length - off);
}

/** The span of one raw argument word, found in `original` after the flags. */
function wordSpan(node: Node, word: string): Span {
  const from = node.argsOffset ?? 0;
  const at = word === '' ? -1 : node.original.indexOf(word, from);
  return at < 0 ? argsSpan(node) : spanInNode(node, at, word.length);
}

const hasVar = (s: string) => s.includes('$');

function exactlyOne(node: Node, kind: string, example: string): Res<string> {
  if (node.args.length === 1) return { ok: true, value: node.args[0]! };
  return err('DF_ARGS', `${kind} requires exactly one argument`, `write ${example}`, node.args.length ? argsSpan(node) : keywordSpan(node));
}

function atLeastOne(node: Node, kind: string, example: string): Res<null> {
  if (node.args.length > 0) return { ok: true, value: null };
  return err('DF_ARGS', `${kind} requires at least one argument`, `write ${example}`, keywordSpan(node));
}

/** Mounts of a RUN, parsed (variables deferred) with errors at their flag. */
function parseMounts(node: Node, flags: ParsedFlags): Res<Mount[]> {
  const mounts: Mount[] = [];
  for (const use of flags.lists.get('mount') ?? []) {
    const m = parseMount(use.value, true);
    if (!m.ok) return err('DF_MOUNT', m.message, m.hint, flagSpanAt(node, use.offset));
    mounts.push(m.mount);
  }
  return { ok: true, value: mounts };
}

/** Span of the flag written at `offset` in `original`. */
export function flagSpanAt(node: Node, offset: number): Span {
  const i = node.flagOffsets?.indexOf(offset) ?? -1;
  return flagSpan(node, i);
}

/** Flags of HEALTHCHECK NONE, which Docker never looks at. Read-only, shared. */
const NO_FLAGS: ParsedFlags = { bools: new Map(), strings: new Map(), lists: new Map() };
const KINDS = new Set<string>(INSTRUCTION_KINDS);

/** Convert one node. Exported for tools that work on single nodes (e.g. ONBUILD triggers). */
export function toInstruction(node: Node): Result<Instruction> {
  const kind = node.cmd.toUpperCase() as InstructionKind;
  if (!KINDS.has(kind)) {
    const at = keywordSpan(node);
    const written = trimGoSpace(node.original).slice(0, at.length) || node.cmd;
    const close = suggest(node.cmd, INSTRUCTION_KINDS);
    return err('DF_UNKNOWN_INSTRUCTION', `unknown instruction ${JSON.stringify(written)}`, close ? `did you mean ${close}?` : `instructions are ${INSTRUCTION_KINDS.join(', ')}`, at);
  }
  // HEALTHCHECK NONE ignores its flags, as Docker does; everything else checks them first.
  const isHealthNone = kind === 'HEALTHCHECK' && (node.args[0] ?? '').toUpperCase() === 'NONE';
  const f = isHealthNone ? { ok: true as const, value: NO_FLAGS } : parseFlags(node, FLAG_SPECS[kind], kind);
  if (!f.ok) return f;
  const flags = f.value;
  const str = (name: string) => flags.strings.get(name)?.value;

  switch (kind) {
    case 'FROM': {
      const a = node.args;
      const asWord = a[1];
      if (!(a.length === 1 || (a.length === 3 && asWord !== undefined && asWord.toLowerCase() === 'as'))) {
        return err('DF_ARGS', 'FROM requires either one or three arguments', 'write FROM <image> or FROM <image> AS <name>', a.length ? argsSpan(node) : keywordSpan(node));
      }
      const out: Instruction = { node, kind, image: a[0]! };
      const name = a[2];
      if (name !== undefined) {
        if (!hasVar(name) && !checkStageName(name.toLowerCase())) {
          return err('DF_ARGS', `invalid name for build stage: ${JSON.stringify(name)}, name can't start with a number or contain symbols`, 'stage names start with a letter and hold letters, digits, "-", "_" and "."', wordSpan(node, name));
        }
        // Stage names are case-insensitive; a name with variables is lower-cased after expansion.
        out.as = hasVar(name) ? name : name.toLowerCase();
      }
      const platform = str('platform');
      if (platform !== undefined) out.platform = platform;
      return { ok: true, value: out };
    }

    case 'RUN': {
      // Mounts first, as BuildKit parses them with the flags.
      const mounts = parseMounts(node, flags);
      if (!mounts.ok) return mounts;
      if (node.args.length === 0) {
        return err('DF_ARGS', 'RUN requires at least one argument', 'write the command to run, e.g. RUN make', keywordSpan(node));
      }
      const out: Instruction = { node, kind, exec: node.json ? [...node.args] : null, shell: node.json ? null : (node.args[0] ?? ''), heredocs: node.heredocs.map((h) => ({ ...h })), mounts: mounts.value };
      const network = flags.strings.get('network');
      if (network) {
        if (!['default', 'none', 'host'].includes(network.value)) {
          return err('DF_BAD_FLAG', `unsupported network mode ${JSON.stringify(network.value)}`, '--network is one of default, none, host', flagSpanAt(node, network.offset));
        }
        out.network = network.value;
      }
      const security = flags.strings.get('security');
      if (security) {
        if (!['sandbox', 'insecure'].includes(security.value)) {
          return err('DF_BAD_FLAG', `unsupported security mode ${JSON.stringify(security.value)}`, '--security is one of sandbox, insecure', flagSpanAt(node, security.offset));
        }
        out.security = security.value;
      }
      const devices = flags.lists.get('device');
      if (devices) out.devices = devices.map((d) => d.value);
      return { ok: true, value: out };
    }

    case 'COPY':
    case 'ADD': {
      if (node.args.length < 2) {
        return err('DF_ARGS', `${kind} requires at least two arguments, but only ${node.args.length === 0 ? 'none was' : 'one was'} provided. Destination could not be determined`, `write ${kind} <source>... <destination>`, node.args.length ? argsSpan(node) : keywordSpan(node));
      }
      const sources = node.args.slice(0, -1);
      const dest = node.args[node.args.length - 1]!;
      if (!node.json && parseHeredocWord(dest)) {
        return err('DF_HEREDOC', `${kind} cannot accept a heredoc as a destination`, `put the heredoc before the destination: ${kind} <<EOF /path/to/file`, wordSpan(node, dest));
      }
      const out: Instruction = {
        node,
        kind,
        sources,
        dest,
        link: flags.bools.get('link') ?? false,
        parents: flags.bools.get('parents') ?? false,
        exclude: (flags.lists.get('exclude') ?? []).map((u) => u.value),
        heredocs: node.heredocs.map((h) => ({ ...h })),
      };
      const from = str('from');
      if (from !== undefined) out.from = from;
      const chown = str('chown');
      if (chown !== undefined) out.chown = chown;
      const chmod = flags.strings.get('chmod');
      if (chmod) {
        const bad = hasVar(chmod.value) ? null : checkChmod(chmod.value);
        if (bad) return err('DF_BAD_FLAG', bad, 'write --chmod=0755 (octal) or --chmod=u+x (symbolic)', flagSpanAt(node, chmod.offset));
        out.chmod = chmod.value;
      }
      if (kind === 'ADD') {
        const checksum = flags.strings.get('checksum');
        if (checksum) {
          if (sources.length !== 1) {
            return err('DF_BAD_FLAG', "checksum can't be specified for multiple sources", 'use one ADD per checksummed source', flagSpanAt(node, checksum.offset));
          }
          const src = sources[0]!;
          if (!hasVar(src) && !/^(https?:\/\/|git@|git:\/\/|ssh:\/\/)/i.test(src)) {
            return err('DF_BAD_FLAG', 'checksum requires the source to be an HTTP(S) URL or a git repository', 'remove --checksum for a local file; the build context is already content-addressed', flagSpanAt(node, checksum.offset));
          }
          out.checksum = checksum.value;
        }
        out.keepGitDir = flags.bools.get('keep-git-dir') ?? false;
        const unpack = flags.bools.get('unpack');
        if (unpack !== undefined) out.unpack = unpack;
      }
      return { ok: true, value: out };
    }

    case 'WORKDIR': {
      const p = exactlyOne(node, kind, 'WORKDIR /path');
      return p.ok ? { ok: true, value: { node, kind, path: p.value } } : p;
    }
    case 'USER': {
      const p = exactlyOne(node, kind, 'USER <user>[:<group>]');
      return p.ok ? { ok: true, value: { node, kind, user: p.value } } : p;
    }
    case 'MAINTAINER': {
      const p = exactlyOne(node, kind, 'MAINTAINER <name>, or better LABEL org.opencontainers.image.authors=<name>');
      return p.ok ? { ok: true, value: { node, kind, name: p.value } } : p;
    }
    case 'STOPSIGNAL': {
      const p = exactlyOne(node, kind, 'STOPSIGNAL SIGTERM');
      if (!p.ok) return p;
      const bad = hasVar(p.value) ? null : checkSignal(p.value);
      if (bad) return err('DF_ARGS', bad, 'write a signal name such as SIGTERM or SIGINT, or a number', argsSpan(node));
      return { ok: true, value: { node, kind, signal: p.value } };
    }

    case 'ENV':
    case 'LABEL': {
      const one = atLeastOne(node, kind, `${kind} key=value`);
      if (!one.ok) return one;
      const pairs: { key: string; value: string }[] = [];
      for (let i = 0; i < node.args.length; i += 3) {
        const key = node.args[i]!;
        if (key === '') return err('DF_ARGS', `${kind} names can not be blank`, `write ${kind} name=value`, argsSpan(node));
        pairs.push({ key, value: node.args[i + 1] ?? '' });
      }
      return { ok: true, value: { node, kind, pairs } };
    }

    case 'ARG': {
      const one = atLeastOne(node, kind, 'ARG name or ARG name=default');
      if (!one.ok) return one;
      const args: { name: string; default?: string }[] = [];
      for (const word of node.args) {
        const eq = word.indexOf('=');
        const name = eq < 0 ? word : word.slice(0, eq);
        if (name === '') return err('DF_ARGS', 'ARG names can not be blank', 'write ARG name=default', wordSpan(node, word));
        args.push(eq < 0 ? { name } : { name, default: word.slice(eq + 1) });
      }
      return { ok: true, value: { node, kind, args } };
    }

    case 'CMD':
    case 'ENTRYPOINT':
      return { ok: true, value: { node, kind, exec: node.json ? [...node.args] : null, shell: node.json ? null : (node.args[0] ?? '') } };

    case 'SHELL': {
      if (node.args.length === 0) return err('DF_ARGS', 'SHELL requires at least one argument', 'write SHELL ["/bin/bash", "-c"]', keywordSpan(node));
      if (!node.json) return err('DF_ARGS', 'SHELL requires the arguments to be in JSON form', `write SHELL ${JSON.stringify(node.args[0]!.split(/\s+/).filter(Boolean))}`, argsSpan(node));
      return { ok: true, value: { node, kind, shell: [...node.args] } };
    }

    case 'EXPOSE': {
      const one = atLeastOne(node, kind, 'EXPOSE 8080 or EXPOSE 53/udp');
      if (!one.ok) return one;
      for (const p of node.args) {
        const bad = hasVar(p) ? null : checkPortSpec(p);
        if (bad) return err('DF_ARGS', bad, 'write a port, a range or a port with protocol: 80, 8000-8010, 53/udp', wordSpan(node, p));
      }
      return { ok: true, value: { node, kind, ports: [...node.args] } };
    }

    case 'VOLUME': {
      const one = atLeastOne(node, kind, 'VOLUME /data');
      if (!one.ok) return one;
      const paths: string[] = [];
      for (const v of node.args) {
        const t = trimGoSpace(v);
        if (t === '') return err('DF_ARGS', 'VOLUME specified can not be an empty string', 'write VOLUME ["/data"] or VOLUME /data', argsSpan(node));
        paths.push(t);
      }
      return { ok: true, value: { node, kind, paths } };
    }

    case 'HEALTHCHECK':
      return healthcheck(node, flags);

    case 'ONBUILD': {
      const sub = node.sub;
      if (!sub) return err('DF_ARGS', 'ONBUILD requires at least one argument', 'write ONBUILD <instruction>, e.g. ONBUILD COPY . /app', keywordSpan(node));
      const trigger = sub.cmd.toUpperCase();
      if (trigger === 'ONBUILD') return err('DF_ARGS', "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", 'use a single ONBUILD', argsSpan(node));
      if (trigger === 'FROM' || trigger === 'MAINTAINER') return err('DF_ARGS', `${trigger} isn't allowed as an ONBUILD trigger`, 'ONBUILD takes RUN, COPY, ADD, ENV and the like', argsSpan(node));
      return { ok: true, value: { node, kind, expression: stripOnbuild(node.original) } };
    }
  }
}

function trimGoSpace(s: string): string {
  let i = 0;
  let j = s.length;
  while (i < j && isSpace(s.charCodeAt(i))) i++;
  while (j > i && isSpace(s.charCodeAt(j - 1))) j--;
  return s.slice(i, j);
}

/** `(?i)^\s*ONBUILD\s*` removed from the original line: the trigger's text. */
function stripOnbuild(original: string): string {
  let i = 0;
  while (i < original.length && /[\t\n\f\r ]/.test(original[i]!)) i++;
  if (original.slice(i, i + 7).toUpperCase() !== 'ONBUILD') return original;
  i += 7;
  while (i < original.length && /[\t\n\f\r ]/.test(original[i]!)) i++;
  return original.slice(i);
}

function healthcheck(node: Node, flags: ParsedFlags): Result<Instruction> {
  if (node.args.length === 0) {
    return err('DF_ARGS', 'HEALTHCHECK requires at least one argument', 'write HEALTHCHECK CMD <command> or HEALTHCHECK NONE', keywordSpan(node));
  }
  const typ = node.args[0]!.toUpperCase();
  const rest = node.args.slice(1);
  if (typ === 'NONE') {
    if (rest.length !== 0) return err('DF_ARGS', 'HEALTHCHECK NONE takes no arguments', 'write HEALTHCHECK NONE alone', argsSpan(node));
    return { ok: true, value: { node, kind: 'HEALTHCHECK', test: null } };
  }
  if (typ !== 'CMD') {
    return err('DF_ARGS', `Unknown type ${JSON.stringify(typ)} in HEALTHCHECK (try CMD)`, 'write HEALTHCHECK CMD <command> or HEALTHCHECK NONE', wordSpan(node, node.args[0]!));
  }
  if (rest.length === 0) return err('DF_ARGS', 'Missing command after HEALTHCHECK CMD', 'write HEALTHCHECK CMD curl -f http://localhost/ || exit 1', argsSpan(node));
  // Docker's Test format: ["CMD", argv...] for exec form, ["CMD-SHELL", text] for shell form.
  const out: Extract<Instruction, { kind: 'HEALTHCHECK' }> = { node, kind: 'HEALTHCHECK', test: [node.json ? 'CMD' : 'CMD-SHELL', ...rest] };
  const durations = [
    ['interval', 'interval'],
    ['timeout', 'timeout'],
    ['start-period', 'startPeriod'],
    ['start-interval', 'startInterval'],
  ] as const;
  for (const [flag, field] of durations) {
    const use = flags.strings.get(flag);
    if (!use) continue;
    const bad = checkHealthDuration(flag, use.value);
    if (bad) return err('DF_BAD_FLAG', bad, `write a duration such as --${flag}=30s or 1m30s`, flagSpanAt(node, use.offset));
    out[field] = use.value;
  }
  const retries = flags.strings.get('retries');
  if (retries) {
    const n = /^[+-]?[0-9]+$/.test(retries.value) ? Number(retries.value) : NaN;
    if (!Number.isSafeInteger(n) || n > 2147483647 || n < -2147483648) {
      return err('DF_BAD_FLAG', `invalid value for --retries: ${JSON.stringify(retries.value)}`, 'write a whole number, e.g. --retries=3', flagSpanAt(node, retries.offset));
    }
    if (n < 0) return err('DF_BAD_FLAG', `--retries cannot be negative (${n})`, 'write a whole number, e.g. --retries=3', flagSpanAt(node, retries.offset));
    out.retries = n;
  }
  return { ok: true, value: out };
}

/**
 * Convert a parsed Dockerfile into typed instructions, in file order. Fails on the first
 * problem: an unknown keyword, a bad flag, a wrong argument count, an instruction other than
 * ARG before the first FROM, or no FROM at all.
 */
export function toInstructions(parsed: ParsedDockerfile): Result<Instruction[]> {
  const out: Instruction[] = [];
  let seenFrom = false;
  for (const node of parsed.nodes) {
    const n: Node = node.file === undefined ? { ...node, file: parsed.file } : node;
    const r = toInstruction(n);
    if (!r.ok) return r;
    const ins = r.value;
    if (ins.kind === 'FROM') seenFrom = true;
    else if (!seenFrom && ins.kind !== 'ARG') {
      return err('DF_NO_STAGE', `${ins.kind} comes before the first FROM`, 'only ARG may come before FROM; add a FROM line above it', keywordSpan(n));
    }
    out.push(ins);
  }
  if (!seenFrom) {
    const first = parsed.nodes[0];
    const at = first ? keywordSpan({ ...first, file: first.file ?? parsed.file }) : { file: parsed.file, line: 1, column: 1, length: 1 };
    return err('DF_NO_STAGE', 'dockerfile contains no stages to build', 'add a FROM line, e.g. FROM alpine:3.20 or FROM scratch', at);
  }
  return { ok: true, value: out };
}
