/**
 * Variable substitution: BuildKit's shell-lexer semantics word by word, word splitting, and
 * which instructions and fields are expanded.
 */
import * as assert from 'uvu/assert';
import { suite } from './util/rig.js';
import { expandInstruction, expandWord, expandWords } from '../engine/dockerfile/expand.js';
import { parseDockerfile } from '../engine/dockerfile/parse.js';
import { toInstructions } from '../engine/dockerfile/instructions.js';
import type { Instruction } from '../engine/dockerfile/types.js';

const ENV: Record<string, string> = { PWD: '/home', SHELL: 'bash', KOREAN: '한국어', NULL: '', P: '/usr/local/bin', SPACED: 'x  y' };
const lookup = (name: string) => (Object.hasOwn(ENV, name) ? ENV[name] : undefined);

const t = suite('dockerfile-expand');

// Input → output ('error' when it must fail), with PWD=/home SHELL=bash KOREAN=한국어 NULL=''.
const WORDS: [string, string][] = [
  ['hello', 'hello'],
  ["he'll'o", 'hello'],
  ["he'llo", 'error'],
  ["he\\'llo", "he'llo"],
  ["he\\\\'llo", 'error'],
  ['abc\\tdef', 'abctdef'],
  ['"abc\\tdef"', 'abc\\tdef'],
  ['"abc\\\\tdef"', 'abc\\tdef'],
  ["'abc\\tdef'", 'abc\\tdef'],
  ['hello\\', 'hello'],
  ['hello\\\\', 'hello\\'],
  ['"hello', 'error'],
  ['"hello\\"', 'error'],
  ['"hel\'lo"', "hel'lo"],
  ["'hello", 'error'],
  ["'hello\\'", 'hello\\'],
  ["'hello\\there'", 'hello\\there'],
  ['"\'\'"', "''"],
  ["'\"hello\"'", '"hello"'],
  ['$.', '$.'],
  ['he$1x', 'hex'],
  ['he$.x', 'he$.x'],
  ['he$pwd.', 'he.'],
  ['he$PWD', 'he/home'],
  ['he\\$PWD', 'he$PWD'],
  ['he\\\\$PWD', 'he\\/home'],
  ['"he\\$PWD"', 'he$PWD'],
  ['"he\\\\$PWD"', 'he\\/home'],
  ["'he\\$PWD'", 'he\\$PWD'],
  ['\\${}', '${}'],
  ['he\\${}xx', 'he${}xx'],
  ['${}', 'error'],
  ['he${}xx', 'error'],
  ['he${hi}xx', 'hexx'],
  ['he${PWD}', 'he/home'],
  ['he${.}', 'error'],
  ['he${PWD', 'error'],
  ['"he${PWD}"', 'he/home'],
  ['"he\'$PWD\'"', "he'/home'"],
  ["'$PWD'", '$PWD'],
  ["'he${XX}'", 'he${XX}'],
  ['${KOREAN}', '한국어'],
  ['한국어$KOREAN', '한국어한국어'],
  // ${V:-w} ${V-w}: default when unset (or, with ":", empty).
  ['he${XXX:-000}xx', 'he000xx'],
  ['he${PWD:-000}xx', 'he/homexx'],
  ['he${XXX:-$PWD}xx', 'he/homexx'],
  ['he${XXX:-${PWD:-yyy}}xx', 'he/homexx'],
  ['he${XXX:-${YYY:-yyy}}xx', 'heyyyxx'],
  ['he${XXX:-\\$PWD:}xx', 'he$PWD:xx'],
  ['${NULL:-d}', 'd'],
  ['${NULL-d}', ''],
  ['${XXX-d}', 'd'],
  // ${V:+w} ${V+w}: w when set (and, with ":", not empty).
  ['he${XXX:+000}xx', 'hexx'],
  ['he${PWD:+000}xx', 'he000xx'],
  ['he${PWD:+${SHELL}}xx', 'hebashxx'],
  ['he${PWD:+${PWD}:}xx', 'he/home:xx'],
  ['${NULL:+w}', ''],
  ['${NULL+w}', 'w'],
  // ${V:?m} ${V?m}: fail when unset (or, with ":", empty).
  ['he${PWD?}', 'he/home'],
  ['he${PWD:?}', 'he/home'],
  ['he${NULL?}', 'he'],
  ['he${NULL:?}', 'error'],
  ['he${XXX?}', 'error'],
  ['he${XXX:?msg}', 'error'],
  // Unsupported modifiers.
  ['he${XXX:YYY}', 'error'],
  ['he${PWD=000}xx', 'error'],
  ['he${PWD:=000}xx', 'error'],
  // Pattern removal and replacement (P=/usr/local/bin).
  ['${P#*/}', 'usr/local/bin'],
  ['${P##*/}', 'bin'],
  ['${P%/*}', '/usr/local'],
  ['${P%%/*}', ''],
  ['${P#/usr}', '/local/bin'],
  ['${P%bin}', '/usr/local/'],
  ['${P#nomatch}', '/usr/local/bin'],
  ['${P/local/share}', '/usr/share/bin'],
  ['${P//\\//:}', ':usr:local:bin'],
  ['${P/?/X}', 'Xusr/local/bin'],
  ['${P//o/0}', '/usr/l0cal/bin'],
  ['${P/#x/y}', '/usr/local/bin'],
  ['${P:#x}', 'error'],
  ['${XXX/a/b}', ''],
];

t.test('expandWord: BuildKit ProcessWord table', () => {
  for (const [input, want] of WORDS) {
    const r = expandWord(input, lookup);
    if (want === 'error') assert.is(r.ok, false, `${input} should fail, got ${r.ok ? JSON.stringify(r.value) : ''}`);
    else {
      if (!r.ok) assert.unreachable(`${input}: ${r.error.message}`);
      else assert.is(r.value, want, input);
    }
  }
});

t.test('expandWord: error messages name the word and the problem', () => {
  const cases: [string, string][] = [
    ['${X:?must be set}', 'failed to process "${X:?must be set}": X: must be set'],
    ['${X?}', 'failed to process "${X?}": X: is not allowed to be unset'],
    ['${NULL:?}', 'failed to process "${NULL:?}": NULL: is not allowed to be empty'],
    ['${}', 'failed to process "${}": syntax error: bad substitution'],
    ['${PWD', 'failed to process "${PWD": syntax error: missing \'}\''],
    ['${PWD:=x}', 'failed to process "${PWD:=x}": unsupported modifier (:=) in substitution'],
    ["'abc", 'failed to process "\'abc": unexpected end of statement while looking for matching single-quote'],
    ['"abc', 'failed to process "\\"abc": unexpected end of statement while looking for matching double-quote'],
    ['${P#\\x}', 'failed to process "${P#\\\\x}": invalid pattern (\\x) in substitution: invalid escape \'\\x\''],
  ];
  for (const [input, message] of cases) {
    const r = expandWord(input, lookup);
    assert.equal(r, { ok: false, error: { message } }, input);
  }
});

t.test('expandWord: the escape token can be a backtick', () => {
  assert.equal(expandWord('a`$PWD', lookup, '`'), { ok: true, value: 'a$PWD' });
  assert.equal(expandWord('a\\$PWD', lookup, '`'), { ok: true, value: 'a\\/home' });
  assert.equal(expandWord('"C:\\dir\\"', lookup, '`'), { ok: true, value: 'C:\\dir\\' });
});

t.test('expandWords: splits on unquoted blanks after expansion', () => {
  const cases: [string, string[]][] = [
    ['a b  c', ['a', 'b', 'c']],
    ['"a b" c', ['a b', 'c']],
    ['$SPACED', ['x', 'y']],
    ['"$SPACED"', ['x  y']],
    ["'' a", ['a']],
    ["a'' b", ['a', 'b']],
    ['a\\ b', ['a b']],
    ['${XXX:-1 2}', ['1', '2']],
    ['', []],
  ];
  for (const [input, want] of cases) assert.equal(expandWords(input, lookup), { ok: true, value: want }, input);
  assert.is(expandWords('"open', lookup).ok, false);
});

// ---------------------------------------------------------------- per instruction

function instrs(text: string): Instruction[] {
  const p = parseDockerfile(text, 'Dockerfile');
  if (!p.ok) throw new Error(p.error.message);
  const r = toInstructions(p.value);
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}
/** Expand the last instruction of `FROM scratch\n<line>` with `env`. */
function ex(line: string, env: Record<string, string>, escapeToken = '\\'): Instruction {
  const all = instrs(`FROM scratch\n${line}\n`);
  const r = expandInstruction(all[all.length - 1]!, (n) => (Object.hasOwn(env, n) ? env[n] : undefined), escapeToken);
  if (!r.ok) throw new Error(`${r.error.message}`);
  return r.value;
}
const strip = (i: Instruction) => ({ ...i, node: undefined });

t.test('FROM: image, AS name (lower-cased after expansion) and --platform', () => {
  const [from] = instrs('FROM --platform=$P ${IMG}:${TAG:-latest} AS ${NAME}\n');
  const r = expandInstruction(from!, (n) => ({ P: 'linux/arm64', IMG: 'alpine', NAME: 'Builder' })[n]);
  if (!r.ok) return assert.unreachable(r.error.message);
  assert.equal(strip(r.value), { node: undefined, kind: 'FROM', image: 'alpine:latest', as: 'builder', platform: 'linux/arm64' });
  const [blank] = instrs('FROM $EMPTY\n');
  const b = expandInstruction(blank!, () => undefined);
  assert.equal(b, {
    ok: false,
    error: { code: 'DF_EXPAND', message: 'base name ($EMPTY) should not be blank', hint: 'give FROM an image or stage name, or a default to the ARG it uses', file: 'Dockerfile', line: 1, column: 6, length: 6 },
  });
});

t.test('ENV and LABEL: keys and values, quotes removed, the old environment for every pair', () => {
  const e = ex('ENV a="x y" b=$a ${K}=v c=\'$a\'', { a: 'old', K: 'key' });
  assert.equal((e as Instruction & { kind: 'ENV' }).pairs, [
    { key: 'a', value: 'x y' },
    { key: 'b', value: 'old' },
    { key: 'key', value: 'v' },
    { key: 'c', value: '$a' },
  ]);
  const legacy = ex('ENV PATH $HOME/bin:$PATH', { HOME: '/root', PATH: '/usr/bin' });
  assert.equal((legacy as Instruction & { kind: 'ENV' }).pairs, [{ key: 'PATH', value: '/root/bin:/usr/bin' }]);
  const l = ex('LABEL "org.x.version"="$V" desc="a \\"quoted\\" word"', { V: '1.2' });
  assert.equal((l as Instruction & { kind: 'LABEL' }).pairs, [
    { key: 'org.x.version', value: '1.2' },
    { key: 'desc', value: 'a "quoted" word' },
  ]);
});

t.test('ARG: defaults expanded, names never', () => {
  const a = ex('ARG $N A=${B:-x}/y C="q r" D', { B: 'b', N: 'n' });
  assert.equal((a as Instruction & { kind: 'ARG' }).args, [{ name: '$N' }, { name: 'A', default: 'b/y' }, { name: 'C', default: 'q r' }, { name: 'D' }]);
});

t.test('COPY and ADD: sources, dest, --from, --chown, --chmod, --checksum; not --exclude', () => {
  const c = ex('COPY --from=$S --chown=${U}:${G} --chmod=$M --exclude=$X "$SRC" b* $DST', { S: 'build', U: 'app', G: 'grp', M: '0644', X: 'x', SRC: 'a b', DST: '/dst/' });
  assert.equal(strip(c), {
    node: undefined,
    kind: 'COPY',
    sources: ['a b', 'b*'],
    dest: '/dst/',
    from: 'build',
    chown: 'app:grp',
    chmod: '0644',
    link: false,
    parents: false,
    exclude: ['$X'],
    heredocs: [],
  });
  const a = ex('ADD --checksum=$SUM https://x/$F.tgz /opt/', { SUM: 'sha256:ab', F: 'f' });
  assert.equal([(a as Instruction & { kind: 'ADD' }).checksum, (a as Instruction & { kind: 'ADD' }).sources], ['sha256:ab', ['https://x/f.tgz']]);
});

t.test('COPY heredocs: unquoted bodies expanded (escapes drop, quotes stay), quoted ones raw, <<- un-indented', () => {
  const all = instrs(['FROM a', 'COPY <<EOF <<\'RAW\' <<-TABS /dst/', '"$HOME" \\$X \\n', 'EOF', '"$HOME"', 'RAW', '\t\tv=$HOME', '\tTABS', ''].join('\n'));
  const r = expandInstruction(all[1]!, (n) => (n === 'HOME' ? '/root' : undefined));
  if (!r.ok) return assert.unreachable(r.error.message);
  const c = r.value as Instruction & { kind: 'COPY' };
  assert.equal(
    c.heredocs.map((h) => h.content),
    ['"/root" $X n\n', '"$HOME"\n', 'v=/root\n'],
  );
  assert.equal(c.sources, ['<<EOF', "<<'RAW'", '<<-TABS']);
});

t.test('RUN: the command is never expanded; --mount values are, keys are not', () => {
  const r = ex('RUN --mount=type=$T,target=${CACHE}/go,id=$ID echo $HOME "${X:?not checked}"', { T: 'cache', CACHE: '/root/.cache', ID: 'go' }) as Instruction & { kind: 'RUN' };
  assert.is(r.shell, 'echo $HOME "${X:?not checked}"');
  assert.equal(r.mounts, [{ type: 'cache', target: '/root/.cache/go', id: 'go', readonly: false, raw: { type: 'cache', target: '/root/.cache/go', id: 'go' } }]);
  const bad = instrs('FROM a\nRUN --mount=type=$T,target=/x make\n')[1]!;
  assert.equal(expandInstruction(bad, () => 'bogus'), {
    ok: false,
    error: { code: 'DF_EXPAND', message: 'unsupported mount type "bogus"', hint: 'type is one of bind, cache, tmpfs, secret, ssh', file: 'Dockerfile', line: 2, column: 5, length: 25 },
  });
});

t.test('CMD, ENTRYPOINT, SHELL, HEALTHCHECK, MAINTAINER and ONBUILD are left alone', () => {
  const env = { A: 'expanded' };
  for (const line of ['CMD echo $A', 'CMD ["echo", "$A"]', 'ENTRYPOINT ["$A"]', 'SHELL ["/bin/$A", "-c"]', 'HEALTHCHECK CMD test $A', 'MAINTAINER $A', 'ONBUILD RUN echo $A']) {
    const before = instrs(`FROM a\n${line}\n`)[1]!;
    const r = expandInstruction(before, (n) => (n === 'A' ? env.A : undefined));
    assert.equal(r, { ok: true, value: before }, line);
  }
});

t.test('WORKDIR, USER, VOLUME, STOPSIGNAL, EXPOSE', () => {
  assert.is((ex('WORKDIR $HOME/src', { HOME: '/root' }) as Instruction & { kind: 'WORKDIR' }).path, '/root/src');
  assert.is((ex('USER ${U:-app}', {}) as Instruction & { kind: 'USER' }).user, 'app');
  assert.equal((ex('VOLUME $D /e', { D: '/data' }) as Instruction & { kind: 'VOLUME' }).paths, ['/data', '/e']);
  assert.equal((ex('VOLUME ["$D", "/b c"]', { D: '/data' }) as Instruction & { kind: 'VOLUME' }).paths, ['/data', '/b c']);
  assert.is((ex('STOPSIGNAL $SIG', { SIG: 'SIGQUIT' }) as Instruction & { kind: 'STOPSIGNAL' }).signal, 'SIGQUIT');
  assert.equal((ex('EXPOSE $PORTS 9000/udp', { PORTS: '80 443' }) as Instruction & { kind: 'EXPOSE' }).ports, ['80', '443', '9000/udp']);
  const sig = instrs('FROM a\nSTOPSIGNAL $S\n')[1]!;
  const r = expandInstruction(sig, () => 'SIGNOPE');
  assert.equal(r.ok ? null : [r.error.message, r.error.line, r.error.column], ['invalid signal: SIGNOPE', 2, 12]);
});

t.test('expansion errors are diagnostics at the word, with a hint', () => {
  const all = instrs('FROM a\nWORKDIR /app\nENV  A=1 \\\n     B="${NEED:?set NEED first}"\n');
  const r = expandInstruction(all[2]!, () => undefined);
  assert.equal(r, {
    ok: false,
    error: {
      code: 'DF_EXPAND',
      message: 'failed to process "\\"${NEED:?set NEED first}\\"": NEED: set NEED first',
      hint: 'declare the variable with ARG or ENV above this line, or pass --build-arg NAME=value',
      file: 'Dockerfile',
      line: 4,
      column: 8,
      length: 25,
    },
  });
  const syntax = expandInstruction(instrs('FROM a\nUSER ${}\n')[1]!, () => undefined);
  assert.equal(syntax.ok ? null : [syntax.error.hint, syntax.error.line, syntax.error.column], ['check the ${…} syntax; write \\$ for a literal dollar sign', 2, 6]);
});

t.test('escape directive: a backtick escapes, a backslash is literal', () => {
  const p = parseDockerfile('# escape=`\nFROM a\nENV P=C:\\$D`$D\n', 'Dockerfile');
  if (!p.ok) return assert.unreachable(p.error.message);
  const r = toInstructions(p.value);
  if (!r.ok) return assert.unreachable(r.error.message);
  const x = expandInstruction(r.value[1]!, () => 'dir', p.value.escapeToken);
  if (!x.ok) return assert.unreachable(x.error.message);
  assert.equal((x.value as Instruction & { kind: 'ENV' }).pairs, [{ key: 'P', value: 'C:\\dir$D' }]);
});

t.test('expandInstruction returns a copy and leaves the input untouched', () => {
  const [, env] = instrs('FROM a\nENV A=$B\n');
  const before = JSON.stringify(strip(env!));
  const r = expandInstruction(env!, () => 'x');
  assert.ok(r.ok && r.value !== env);
  assert.is(JSON.stringify(strip(env!)), before);
});

t.run();
