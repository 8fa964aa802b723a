/**
 * The parser (text → BuildKit AST) and the conversion to typed instructions: every form,
 * directives, heredocs, positions of errors (line AND column), messages and hints.
 */
import * as assert from 'uvu/assert';
import { suite } from './util/rig.js';
import { parseDockerfile } from '../engine/dockerfile/parse.js';
import { toInstructions } from '../engine/dockerfile/instructions.js';
import { dumpDockerfile, dumpNode } from '../engine/dockerfile/dump.js';
import { formatDiagnostic } from '../engine/errors.js';
import type { Diagnostic, Instruction, ParsedDockerfile } from '../engine/dockerfile/types.js';

function parse(text: string): ParsedDockerfile {
  const r = parseDockerfile(text, 'Dockerfile');
  if (!r.ok) throw new Error(`unexpected parse error: ${formatDiagnostic(r.error)}`);
  return r.value;
}
function dump(text: string): string {
  return dumpDockerfile(parse(text)).trimEnd();
}
function instructions(text: string): Instruction[] {
  const r = toInstructions(parse(text));
  if (!r.ok) throw new Error(`unexpected error: ${formatDiagnostic(r.error)}`);
  return r.value;
}
/** The instruction of the last line, after a FROM. */
function one<K extends Instruction['kind']>(line: string, kind: K): Instruction & { kind: K } {
  const all = instructions(`FROM scratch\n${line}\n`);
  const last = all[all.length - 1]!;
  assert.is(last.kind, kind);
  return last as Instruction & { kind: K };
}
/** The first diagnostic, from parsing or from conversion. */
function error(text: string): Diagnostic {
  const p = parseDockerfile(text, 'Dockerfile');
  if (!p.ok) return p.error;
  const r = toInstructions(p.value);
  if (r.ok) throw new Error(`expected an error for ${JSON.stringify(text)}`);
  return r.error;
}
function expectError(text: string, want: Partial<Diagnostic>): void {
  const d = error(text);
  for (const [k, v] of Object.entries(want)) assert.equal(d[k as keyof Diagnostic], v, `${k} of ${formatDiagnostic(d)}`);
}

const t = suite('dockerfile-parse');

// ---------------------------------------------------------------- forms per instruction

t.test('each instruction splits its arguments as BuildKit does', () => {
  const table: [string, string, boolean?][] = [
    ['FROM alpine:3.20 AS build', '(from "alpine:3.20" "AS" "build")'],
    ['FROM --platform=$BUILDPLATFORM golang', '(from ["--platform=$BUILDPLATFORM"] "golang")'],
    ['RUN echo "a  b" \'c\'', '(run "echo \\"a  b\\" \'c\'")'],
    ['RUN ["echo", "a  b"]', '(run "echo" "a  b")', true],
    ['RUN [ "echo", \'x\' ]', '(run "[ \\"echo\\", \'x\' ]")', false],
    ['CMD ["a"] # trailing text is not JSON', '(cmd "[\\"a\\"] # trailing text is not JSON")', false],
    ['CMD []', '(cmd)', true],
    ['ENTRYPOINT ["/bin/sh", "-c"]', '(entrypoint "/bin/sh" "-c")', true],
    ['SHELL ["powershell", "-Command"]', '(shell "powershell" "-Command")', true],
    ['COPY a "b c" /dst/', '(copy "a" "\\"b" "c\\"" "/dst/")'],
    ['COPY ["a b", "/dst/"]', '(copy "a b" "/dst/")', true],
    ['ADD --chown=1:1 https://x/y.tgz /opt/', '(add ["--chown=1:1"] "https://x/y.tgz" "/opt/")'],
    ['VOLUME /a /b', '(volume "/a" "/b")'],
    ['VOLUME ["/a"]', '(volume "/a")', true],
    ['EXPOSE 80/tcp  443', '(expose "80/tcp" "443")'],
    ['ENV A=1 B="x y" C=z\\ w', '(env "A" "1" "=" "B" "\\"x y\\"" "=" "C" "z\\\\ w" "=")'],
    ['ENV LEGACY some value here', '(env "LEGACY" "some value here" "")'],
    ['LABEL a.b="c" d=e', '(label "a.b" "\\"c\\"" "=" "d" "e" "=")'],
    ['ARG A B=2 C="x y"', '(arg "A" "B=2" "C=\\"x y\\"")'],
    ['USER app:app', '(user "app:app")'],
    ['WORKDIR /src/app', '(workdir "/src/app")'],
    ['STOPSIGNAL SIGTERM', '(stopsignal "SIGTERM")'],
    ['MAINTAINER Jane <j@example.com>', '(maintainer "Jane <j@example.com>")'],
    ['HEALTHCHECK --interval=5s CMD curl -f http://x/ || exit 1', '(healthcheck ["--interval=5s"] "CMD" "curl -f http://x/ || exit 1")'],
    ['HEALTHCHECK NONE', '(healthcheck "NONE")'],
    ['ONBUILD RUN --mount=type=cache,target=/c make', '(onbuild (run ["--mount=type=cache,target=/c"] "make"))'],
    ['frobnicate the thing', '(frobnicate "")'],
  ];
  for (const [line, want, json] of table) {
    const text = `${line}\n`;
    assert.is(dump(text), want, line);
    if (json !== undefined) assert.is(parse(text).nodes[0]!.json, json, `json of ${line}`);
  }
});

t.test('keywords are case-insensitive and lower-cased; the original line is kept', () => {
  const n = parse('  fRoM   alpine  \n').nodes[0]!;
  assert.is(n.cmd, 'from');
  assert.is(n.original, 'fRoM   alpine  ');
  assert.is(n.column, 3);
  assert.equal(n.args, ['alpine']);
});

t.test('flags: unquoted, `--` ends them, and only words right after the keyword count', () => {
  const n = parse('COPY --chown="a b" --link -- --notaflag /x\n').nodes[0]!;
  assert.equal(n.flags, ['--chown=a b', '--link']);
  assert.equal(n.args, ['--notaflag', '/x']);
  const m = parse('RUN echo --not-a-flag\n').nodes[0]!;
  assert.equal(m.flags, []);
});

t.test('continuation: joined as written, comments and blank lines inside are dropped', () => {
  const p = parse('RUN a \\\n  # a comment\n\n    b \\\n\tc\nRUN d\n');
  assert.is(p.nodes[0]!.original, 'RUN a     b \tc');
  assert.equal([p.nodes[0]!.startLine, p.nodes[0]!.endLine], [1, 5]);
  assert.equal(p.warnings, [{ message: 'Empty continuation line found in: RUN a     b \tc', line: 5 }]);
  assert.equal([p.nodes[1]!.startLine, p.nodes[1]!.endLine], [6, 6]);
});

t.test('an escaped escape at the end of a line is text, not a continuation', () => {
  assert.is(dump('ENV A x\\\\\nENV B y\n'), '(env "A" "x\\\\\\\\" "")\n(env "B" "y" "")');
});

t.test('CRLF line endings and a BOM are ignored', () => {
  const p = parse('\uFEFFFROM a\r\nRUN b \\\r\n  c\r\n');
  assert.is(dumpDockerfile(p), '(from "a")\n(run "b   c")\n');
  assert.is(p.nodes[0]!.column, 1);
});

t.test('a continuation at the end of the file closes the instruction', () => {
  assert.is(dump('FROM a\nRUN b \\'), '(from "a")\n(run "b")');
});

// ---------------------------------------------------------------- directives

t.test('directives: syntax, escape and check in the top block', () => {
  const p = parse('# syntax=docker/dockerfile:1\n#ESCAPE = `\n# check=skip=all;error=true\nFROM a\nRUN b `\n  c\n');
  assert.equal(p.directives, [
    { name: 'syntax', value: 'docker/dockerfile:1', line: 1 },
    { name: 'escape', value: '`', line: 2 },
    { name: 'check', value: 'skip=all;error=true', line: 3 },
  ]);
  assert.is(p.escapeToken, '`');
  assert.is(p.nodes[1]!.original, 'RUN b   c');
});

t.test('a directive after a comment, a blank line or an instruction is a comment', () => {
  for (const text of ['# hello\n# escape=`\nFROM a\n', '\n# escape=`\nFROM a\n', 'FROM a\n# escape=`\n', '# unknown=1\n# escape=`\nFROM a\n']) {
    const p = parse(text);
    assert.is(p.escapeToken, '\\', JSON.stringify(text));
  }
});

t.test('a repeated directive and a bad escape token are errors at their line', () => {
  expectError('# escape=`\n# escape=\\\nFROM a\n', {
    code: 'DF_DIRECTIVE',
    line: 2,
    column: 1,
    message: 'only one escape parser directive can be used',
    hint: 'remove the repeated directive',
  });
  expectError('# escape=x\nFROM a\n', { code: 'DF_DIRECTIVE', line: 1, message: "invalid escape token 'x' does not match ` or \\" });
});

t.test('with escape=`, a backslash is an ordinary character', () => {
  const p = parse('# escape=`\nFROM a\nCOPY C:\\src\\ C:\\dst\\\nRUN dir `\n  C:\\\n');
  assert.equal(p.nodes[1]!.args, ['C:\\src\\', 'C:\\dst\\']);
  assert.is(p.nodes[2]!.args[0], 'dir   C:\\');
});

// ---------------------------------------------------------------- heredocs

t.test('heredocs: body, fd, chomp, quoting, several per line, endLine', () => {
  const p = parse(
    [
      'FROM a',
      'RUN <<EOF',
      'echo $HOME',
      '# not a comment here',
      'EOF',
      'RUN 3<<-\'END\' cat <&3',
      '\tindented',
      '\tEND',
      'COPY <<A <<"B" /dst/',
      'a',
      'A',
      'b',
      'B',
      'RUN ["<<X"]',
      '',
    ].join('\n'),
  );
  const [, run, run2, copy, json] = p.nodes;
  assert.equal(run!.heredocs, [{ name: 'EOF', fd: 0, expand: true, chomp: false, content: 'echo $HOME\n# not a comment here\n' }]);
  assert.equal([run!.startLine, run!.endLine], [2, 5]);
  assert.equal(run2!.heredocs, [{ name: 'END', fd: 3, expand: false, chomp: true, content: '\tindented\n' }]);
  assert.equal(
    copy!.heredocs.map((h) => [h.name, h.expand, h.content]),
    [
      ['A', true, 'a\n'],
      ['B', false, 'b\n'],
    ],
  );
  assert.equal([copy!.startLine, copy!.endLine], [9, 13]);
  assert.equal(json!.heredocs, []);
  assert.is(dumpNode(copy!), 'copy "<<A" "<<\\"B\\"" "/dst/"');
});

t.test('heredocs only for RUN, COPY and ADD: USER <<X is an argument', () => {
  const p = parse('FROM a\nUSER <<X\nRUN <<Y\nY\n');
  assert.equal(p.nodes[1]!.heredocs, []);
  assert.is(p.nodes[2]!.endLine, 4);
});

t.test('an unterminated heredoc is an error at its marker', () => {
  expectError('FROM a\nRUN  echo hi && cat <<EOF\nbody\n', {
    code: 'DF_HEREDOC',
    line: 2,
    column: 21,
    length: 5,
    message: 'unterminated heredoc',
    hint: 'end the heredoc with a line holding only "EOF"',
  });
});

// ---------------------------------------------------------------- parse errors and positions

t.test('ENV without a value: error at the key', () => {
  expectError('FROM a\n  ENV   ONLYKEY\n', { code: 'DF_ENV', line: 2, column: 9, length: 7, message: 'ENV must have two arguments', hint: 'give ONLYKEY a value: ENV ONLYKEY=value' });
});

t.test('ENV with a bare word after key=value: error at the word', () => {
  expectError('FROM a\nENV a=1 oops\n', {
    code: 'DF_ENV',
    line: 2,
    column: 9,
    length: 4,
    message: 'Syntax error - can\'t find = in "oops". Must be of the form: name=value',
  });
});

t.test('a JSON array with a non-string: error at the array', () => {
  expectError('FROM a\nCMD ["a", 1]\n', { code: 'DF_JSON', line: 2, column: 5, length: 8, message: 'when using JSON array syntax, arrays must be comprised of strings only' });
});

t.test('errors inside ONBUILD point into the trigger; carets line up under tabs', () => {
  expectError('FROM a\nONBUILD ENV A\n', { code: 'DF_ENV', line: 2, column: 13, length: 1, message: 'ENV must have two arguments' });
  const text = 'FROM a\n\tCOPY --chmod=999 x y\n';
  assert.is(
    formatDiagnostic(error(text), text),
    "error: Dockerfile:2:7: invalid chmod parameter: '999'. it should be octal string and between 0 and 07777\n2 | \tCOPY --chmod=999 x y\n  | \t     ^^^^^^^^^^^\nhint: write --chmod=0755 (octal) or --chmod=u+x (symbolic)",
  );
});

t.test('a file with no instructions', () => {
  expectError('# just a comment\n\n', { code: 'DF_EMPTY', message: 'file with no instructions', hint: 'a Dockerfile needs at least a FROM instruction' });
  expectError('', { code: 'DF_EMPTY', line: 1 });
});

t.test('a physical line longer than 65535 bytes is refused', () => {
  expectError(`FROM a\nRUN ${'x'.repeat(70000)}\n`, { code: 'DF_LINE_TOO_LONG', line: 2, message: 'dockerfile line greater than max allowed size of 65535' });
  // Multi-byte characters count in bytes, as Go's scanner does.
  expectError(`FROM a\nRUN ${'é'.repeat(33000)}\n`, { code: 'DF_LINE_TOO_LONG', line: 2 });
  parse(`FROM a\nRUN ${'x'.repeat(60000)}\n`);
});

// ---------------------------------------------------------------- typed instructions

t.test('unknown instruction: error at the keyword with a suggestion', () => {
  const d = error('FROM a\n\nRUUN make\n');
  assert.equal(d, { code: 'DF_UNKNOWN_INSTRUCTION', message: 'unknown instruction "RUUN"', hint: 'did you mean RUN?', file: 'Dockerfile', line: 3, column: 1, length: 4 });
  assert.is(formatDiagnostic(d), 'error: Dockerfile:3:1: unknown instruction "RUUN"\nhint: did you mean RUN?');
  assert.is(formatDiagnostic(d, 'FROM a\n\nRUUN make\n'), 'error: Dockerfile:3:1: unknown instruction "RUUN"\n3 | RUUN make\n  | ^^^^\nhint: did you mean RUN?');
  expectError('FROM a\n    xyzzy\n', { line: 2, column: 5, length: 5, message: 'unknown instruction "xyzzy"', hint: 'instructions are FROM, RUN, CMD, LABEL, MAINTAINER, EXPOSE, ENV, ADD, COPY, ENTRYPOINT, VOLUME, USER, WORKDIR, ARG, ONBUILD, STOPSIGNAL, HEALTHCHECK, SHELL' });
});

t.test('FROM: image, AS name (lower-cased), --platform', () => {
  const f = instructions('FROM --platform=linux/arm64 golang:1.22 As Builder\n')[0]!;
  assert.equal({ ...f, node: undefined }, { node: undefined, kind: 'FROM', image: 'golang:1.22', as: 'builder', platform: 'linux/arm64' });
  expectError('FROM a b\n', { code: 'DF_ARGS', line: 1, column: 6, message: 'FROM requires either one or three arguments', hint: 'write FROM <image> or FROM <image> AS <name>' });
  expectError('FROM a AS 1st\n', { code: 'DF_ARGS', column: 11, length: 3, message: 'invalid name for build stage: "1st", name can\'t start with a number or contain symbols' });
  expectError('FROM --plaftorm=x a\n', { code: 'DF_BAD_FLAG', column: 6, length: 12, message: 'unknown flag --plaftorm for FROM', hint: 'did you mean --platform?' });
});

t.test('instructions other than ARG before FROM, and no FROM at all, are errors', () => {
  expectError('ARG V=1\nRUN x\nFROM a\n', { code: 'DF_NO_STAGE', line: 2, column: 1, message: 'RUN comes before the first FROM', hint: 'only ARG may come before FROM; add a FROM line above it' });
  expectError('ARG V=1\n', { code: 'DF_NO_STAGE', message: 'dockerfile contains no stages to build' });
});

t.test('RUN: shell and exec forms, heredocs, mounts, network, security', () => {
  const r = one('RUN --mount=type=cache,target=/root/.cache,id=gomod,sharing=locked --mount=type=secret,id=tok,required --network=none --security=insecure go build', 'RUN');
  assert.is(r.shell, 'go build');
  assert.is(r.exec, null);
  assert.is(r.network, 'none');
  assert.is(r.security, 'insecure');
  assert.equal(r.mounts, [
    { type: 'cache', target: '/root/.cache', id: 'gomod', sharing: 'locked', readonly: false, raw: { type: 'cache', target: '/root/.cache', id: 'gomod', sharing: 'locked' } },
    { type: 'secret', target: '', id: 'tok', required: true, readonly: true, raw: { type: 'secret', id: 'tok', required: '' } },
  ]);
  const e = one('RUN ["make", "all"]', 'RUN');
  assert.equal([e.exec, e.shell], [['make', 'all'], null]);
  const h = instructions('FROM a\nRUN <<EOF\nmake\nEOF\n')[1] as Extract<Instruction, { kind: 'RUN' }>;
  assert.is(h.shell, '<<EOF');
  assert.equal(h.heredocs.map((d) => d.content), ['make\n']);
  // A bind mount without target= or type= mounts at the working directory (buildx's own Dockerfile).
  assert.equal(one('RUN --mount=from=binaries ls', 'RUN').mounts[0], { type: 'bind', target: '', from: 'binaries', readonly: true, raw: { from: 'binaries' } });
  // A quoted CSV field (the flag itself is shell-unquoted first, so the CSV quotes need protecting).
  assert.is(one(`RUN --mount='type=bind,"source=a,b",target=/t' ls`, 'RUN').mounts[0]!.source, 'a,b');
});

t.test('RUN: bad mounts and modes are errors at the flag', () => {
  expectError('FROM a\nRUN --mount=type=cahce,target=/x make\n', { code: 'DF_MOUNT', line: 2, column: 5, length: 28, message: 'unsupported mount type "cahce"', hint: 'did you mean type=cache?' });
  expectError('FROM a\nRUN --mount=type=cache,traget=/x make\n', { code: 'DF_MOUNT', message: "unexpected key 'traget' in 'traget=/x'", hint: 'did you mean target?' });
  expectError('FROM a\nRUN --mount=type=bind,target=/x,sharing=locked make\n', { code: 'DF_MOUNT', message: 'invalid cache sharing set for bind mount' });
  expectError('FROM a\nRUN --mount=type=cache,target=/x,mode=999 make\n', { code: 'DF_MOUNT', message: 'invalid value 999 for mode' });
  expectError('FROM a\nRUN --mount=type=bind,from=$STAGE,target=/x make\n', { code: 'DF_MOUNT', message: "'from' doesn't support variable expansion, define alias stage instead" });
  expectError(`FROM a\nRUN --mount='type=bind,tar"get=/x' make\n`, { code: 'DF_MOUNT', message: 'failed to parse csv mounts: parse error on line 1, column 14: bare " in non-quoted-field' });
  // An unterminated quote in a flag swallows the rest of the line (BuildKit's flag scanner): no command is left.
  expectError('FROM a\nRUN --mount=type=bind,target="/x make\n', { code: 'DF_ARGS', message: 'RUN requires at least one argument' });
  expectError('FROM a\nRUN --network=bridge make\n', { code: 'DF_BAD_FLAG', column: 5, length: 16, message: 'unsupported network mode "bridge"', hint: '--network is one of default, none, host' });
  expectError('FROM a\nRUN --security=root make\n', { code: 'DF_BAD_FLAG', message: 'unsupported security mode "root"' });
  expectError('FROM a\nRUN\n', { code: 'DF_ARGS', line: 2, column: 1, length: 3, message: 'RUN requires at least one argument' });
});

t.test('a flag on a continuation line is reported on that line and column', () => {
  expectError('FROM a\nRUN --mount=type=cache,target=/a \\\n    --mount=type=nope,target=/b \\\n    make\n', { code: 'DF_MOUNT', line: 3, column: 5, length: 27 });
  expectError('FROM a\nCOPY --link \\\n  --frm=x a b\n', { code: 'DF_BAD_FLAG', line: 3, column: 3, length: 7, message: 'unknown flag --frm for COPY', hint: 'did you mean --from?' });
});

t.test('flag syntax: duplicates, missing values, booleans', () => {
  expectError('FROM a\nCOPY --from=x --from=y a b\n', { code: 'DF_BAD_FLAG', column: 15, length: 8, message: 'duplicate flag specified: --from', hint: 'give --from only once' });
  expectError('FROM a\nCOPY --from a b\n', { code: 'DF_BAD_FLAG', column: 6, length: 6, message: 'missing a value on flag: --from', hint: 'write --from=<value> (with "=", no space)' });
  expectError('FROM a\nCOPY --link=yes a b\n', { code: 'DF_BAD_FLAG', message: 'expecting boolean value for flag --link, not: yes' });
  expectError('FROM a\nCOPY --link= a b\n', { code: 'DF_BAD_FLAG', message: 'missing a value on flag: --link' });
  expectError('FROM a\nWORKDIR --mode=1 /x\n', { code: 'DF_BAD_FLAG', message: 'unknown flag --mode for WORKDIR', hint: 'WORKDIR takes no flags' });
  assert.is(one('COPY --link=FALSE a b', 'COPY').link, false);
  assert.is(one('COPY --link a b', 'COPY').link, true);
  // --exclude repeats.
  assert.equal(one('COPY --exclude=*.md --exclude=.git . /src', 'COPY').exclude, ['*.md', '.git']);
});

t.test('COPY and ADD: sources, dest, flags, heredocs, argument count', () => {
  const c = one('COPY --from=build --chown=app:app --chmod=0755 --link --parents a/./b c /dst/', 'COPY');
  assert.equal([c.sources, c.dest, c.from, c.chown, c.chmod, c.link, c.parents], [['a/./b', 'c'], '/dst/', 'build', 'app:app', '0755', true, true]);
  const a = one('ADD --checksum=sha256:abc --keep-git-dir --unpack=false https://example.com/x.tgz /x/', 'ADD');
  assert.equal([a.checksum, a.keepGitDir, a.unpack], ['sha256:abc', true, false]);
  const h = instructions('FROM a\nCOPY <<-EOF /etc/motd\n\thello\n\tEOF\n')[1] as Instruction & { kind: 'COPY' };
  assert.equal([h.sources, h.dest], [['<<-EOF'], '/etc/motd']);
  assert.equal(h.heredocs, [{ name: 'EOF', fd: 0, expand: true, chomp: true, content: '\thello\n' }]);
  expectError('FROM a\nCOPY onlyone\n', {
    code: 'DF_ARGS',
    line: 2,
    column: 6,
    length: 7,
    message: 'COPY requires at least two arguments, but only one was provided. Destination could not be determined',
    hint: 'write COPY <source>... <destination>',
  });
  expectError('FROM a\nADD\n', { code: 'DF_ARGS', line: 2, column: 1, length: 3 });
  expectError('FROM a\nCOPY a <<EOF\nx\nEOF\n', { code: 'DF_HEREDOC', column: 8, length: 5, message: 'COPY cannot accept a heredoc as a destination' });
  expectError('FROM a\nCOPY --chmod=8888 a b\n', { code: 'DF_BAD_FLAG', column: 6, message: "invalid chmod parameter: '8888'. it should be octal string and between 0 and 07777" });
  assert.is(one('COPY --chmod=u+x,go=rX a b', 'COPY').chmod, 'u+x,go=rX');
  expectError('FROM a\nADD --from=x a b\n', { code: 'DF_BAD_FLAG', message: 'unknown flag --from for ADD' });
  expectError('FROM a\nCOPY --checksum=sha256:x a b\n', { code: 'DF_BAD_FLAG', message: 'unknown flag --checksum for COPY' });
  expectError('FROM a\nADD --checksum=sha256:x a b c\n', { code: 'DF_BAD_FLAG', message: "checksum can't be specified for multiple sources" });
  expectError('FROM a\nADD --checksum=sha256:x local.txt /x\n', { code: 'DF_BAD_FLAG', message: 'checksum requires the source to be an HTTP(S) URL or a git repository' });
});

t.test('ARG declares each word, with or without a default', () => {
  assert.equal(one('ARG A B=2 C="x y" D=', 'ARG').args, [{ name: 'A' }, { name: 'B', default: '2' }, { name: 'C', default: '"x y"' }, { name: 'D', default: '' }]);
  expectError('FROM a\nARG =x\n', { code: 'DF_ARGS', column: 5, message: 'ARG names can not be blank' });
  expectError('FROM a\nARG\n', { code: 'DF_ARGS', message: 'ARG requires at least one argument' });
});

t.test('ENV and LABEL pairs, raw values', () => {
  assert.equal(one('ENV A=1 B="x y"', 'ENV').pairs, [
    { key: 'A', value: '1' },
    { key: 'B', value: '"x y"' },
  ]);
  assert.equal(one('LABEL version 1.0 beta', 'LABEL').pairs, [{ key: 'version', value: '1.0 beta' }]);
  expectError('FROM a\nENV =x\n', { code: 'DF_ARGS', message: 'ENV names can not be blank' });
  expectError('FROM a\nLABEL\n', { code: 'DF_ARGS', message: 'LABEL requires at least one argument' });
});

t.test('single-argument instructions', () => {
  assert.is(one('WORKDIR /a b', 'WORKDIR').path, '/a b');
  assert.is(one('USER 1000:1000', 'USER').user, '1000:1000');
  assert.is(one('STOPSIGNAL 9', 'STOPSIGNAL').signal, '9');
  assert.is(one('MAINTAINER me', 'MAINTAINER').name, 'me');
  expectError('FROM a\nWORKDIR\n', { code: 'DF_ARGS', line: 2, column: 1, message: 'WORKDIR requires exactly one argument', hint: 'write WORKDIR /path' });
  expectError('FROM a\nSTOPSIGNAL SIGWHAT\n', { code: 'DF_ARGS', column: 12, message: 'invalid signal: SIGWHAT' });
  assert.is(one('STOPSIGNAL sigrtmin+3', 'STOPSIGNAL').signal, 'sigrtmin+3');
});

t.test('CMD, ENTRYPOINT and SHELL', () => {
  assert.equal(one('CMD ["a", "b"]', 'CMD').exec, ['a', 'b']);
  assert.is(one('ENTRYPOINT exec app', 'ENTRYPOINT').shell, 'exec app');
  assert.equal(one('SHELL ["/bin/bash", "-o", "pipefail", "-c"]', 'SHELL').shell, ['/bin/bash', '-o', 'pipefail', '-c']);
  expectError('FROM a\nSHELL /bin/bash -c\n', { code: 'DF_ARGS', column: 7, message: 'SHELL requires the arguments to be in JSON form', hint: 'write SHELL ["/bin/bash","-c"]' });
});

t.test('EXPOSE and VOLUME', () => {
  assert.equal(one('EXPOSE 80 443/tcp 53/udp 8000-8010 $PORT', 'EXPOSE').ports, ['80', '443/tcp', '53/udp', '8000-8010', '$PORT']);
  expectError('FROM a\nEXPOSE 80/http\n', { code: 'DF_ARGS', column: 8, message: 'invalid proto: http' });
  expectError('FROM a\nEXPOSE 99999\n', { code: 'DF_ARGS', message: 'invalid containerPort: 99999' });
  assert.equal(one('VOLUME ["/data", "/logs"]', 'VOLUME').paths, ['/data', '/logs']);
  expectError('FROM a\nVOLUME [" "]\n', { code: 'DF_ARGS', message: 'VOLUME specified can not be an empty string' });
});

t.test('HEALTHCHECK: NONE, CMD in both forms, durations and retries', () => {
  assert.is(one('HEALTHCHECK NONE', 'HEALTHCHECK').test, null);
  const h = one('HEALTHCHECK --interval=1m30s --timeout=3s --start-period=0s --start-interval=500ms --retries=3 CMD curl -f http://localhost/', 'HEALTHCHECK');
  assert.equal({ ...h, node: undefined }, {
    node: undefined,
    kind: 'HEALTHCHECK',
    test: ['CMD-SHELL', 'curl -f http://localhost/'],
    interval: '1m30s',
    timeout: '3s',
    startPeriod: '0s',
    startInterval: '500ms',
    retries: 3,
  });
  assert.equal(one('HEALTHCHECK CMD ["/bin/check", "-q"]', 'HEALTHCHECK').test, ['CMD', '/bin/check', '-q']);
  expectError('FROM a\nHEALTHCHECK --interval=5 CMD x\n', { code: 'DF_BAD_FLAG', column: 13, message: 'invalid duration "5" for --interval', hint: 'write a duration such as --interval=30s or 1m30s' });
  expectError('FROM a\nHEALTHCHECK --timeout=10us CMD x\n', { code: 'DF_BAD_FLAG', message: 'Interval "timeout" cannot be less than 1ms' });
  expectError('FROM a\nHEALTHCHECK --retries=-1 CMD x\n', { code: 'DF_BAD_FLAG', message: '--retries cannot be negative (-1)' });
  expectError('FROM a\nHEALTHCHECK CONNECT TCP 7000\n', { code: 'DF_ARGS', column: 13, message: 'Unknown type "CONNECT" in HEALTHCHECK (try CMD)' });
  expectError('FROM a\nHEALTHCHECK CMD\n', { code: 'DF_ARGS', message: 'Missing command after HEALTHCHECK CMD' });
  expectError('FROM a\nHEALTHCHECK NONE x\n', { code: 'DF_ARGS', message: 'HEALTHCHECK NONE takes no arguments' });
  expectError('FROM a\nHEALTHCHECK --intervl=5s CMD x\n', { code: 'DF_BAD_FLAG', message: 'unknown flag --intervl for HEALTHCHECK', hint: 'did you mean --interval?' });
});

t.test('ONBUILD: the trigger text, and forbidden triggers', () => {
  assert.is(one('ONBUILD   COPY . /app', 'ONBUILD').expression, 'COPY . /app');
  expectError('FROM a\nONBUILD ONBUILD RUN x\n', { code: 'DF_ARGS', column: 9, message: "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed" });
  expectError('FROM a\nONBUILD FROM x\n', { code: 'DF_ARGS', message: "FROM isn't allowed as an ONBUILD trigger" });
  expectError('FROM a\nONBUILD\n', { code: 'DF_ARGS', message: 'ONBUILD requires at least one argument' });
});

// ---------------------------------------------------------------- robustness and speed

t.test('never throws: random inputs give a Result', () => {
  const alphabet = ['\\', '`', '"', "'", '$', '{', '}', '[', ']', ',', '=', ' ', '\t', '\n', '\r\n', '#', '<<', '-', '--', 'EOF', 'RUN ', 'COPY ', 'ENV ', 'FROM ', 'ONBUILD ', 'HEALTHCHECK ', 'a', '1', 'é', '\uFEFF', '\u00a0', '--mount=', 'type=cache'];
  let seed = 42;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let i = 0; i < 3000; i++) {
    let s = '';
    const len = rand(60);
    for (let j = 0; j < len; j++) s += alphabet[rand(alphabet.length)];
    const p = parseDockerfile(s, 'fuzz');
    assert.type(p.ok, 'boolean');
    if (p.ok) {
      const r = toInstructions(p.value);
      assert.type(r.ok, 'boolean');
      if (!r.ok) assert.ok(r.error.line >= 1 && r.error.column >= 1 && r.error.length >= 1, JSON.stringify(r.error));
    } else {
      assert.ok(p.error.line >= 1 && p.error.column >= 1 && p.error.length >= 1, JSON.stringify(p.error));
    }
  }
});

t.test('no regex blow-up on long runs of blanks, quotes or escapes', () => {
  const nasty = [`# escape=${' '.repeat(20000)}x\nFROM a\n`, `FROM a\nENV a="${'\\"'.repeat(10000)}\n`, `FROM a\nRUN ${'\\ '.repeat(10000)}\n`, `FROM a\nCOPY ${'<<'.repeat(10000)} /x\n`];
  for (const text of nasty) {
    const t0 = performance.now();
    parseDockerfile(text, 'x');
    assert.ok(performance.now() - t0 < 2000, `took ${performance.now() - t0} ms`);
  }
});

// Its speed is measured in bench/ (a timed assertion here would fail on a loaded machine).
t.test('a 500-line Dockerfile with continuations, comments and mounts parses into every instruction', () => {
  const lines = ['# syntax=docker/dockerfile:1', 'ARG BASE=alpine:3.20', 'FROM ${BASE} AS build'];
  let expected = 2;
  while (lines.length < 500) {
    const i = lines.length;
    lines.push(
      `ENV V${i}="value ${i}" W${i}=x`,
      `RUN --mount=type=cache,target=/c${i} set -eux; \\`,
      `\tapk add --no-cache pkg${i} \\`,
      `# a comment in the middle`,
      `\t&& echo "${i}"`,
      `COPY --chown=1:1 ["src/${i}", "/dst/${i}"]`,
    );
    expected += 3;
  }
  const p = parseDockerfile(lines.join('\n') + '\n', 'Dockerfile');
  assert.ok(p.ok);
  const ins = p.ok ? toInstructions(p.value) : undefined;
  assert.ok(ins?.ok);
  const list = ins?.ok ? ins.value : [];
  assert.is(list.length, expected);
  const run = list.find((x) => x.kind === 'RUN');
  assert.ok(run && run.kind === 'RUN' && run.mounts[0]?.target === '/c3' && run.shell?.includes('echo "3"') && !run.shell.includes('comment'));
  const copy = list.find((x) => x.kind === 'COPY');
  assert.ok(copy && copy.kind === 'COPY' && copy.chown === '1:1' && copy.dest === '/dst/3');
});

t.run();
