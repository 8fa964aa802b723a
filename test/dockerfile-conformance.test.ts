/**
 * BuildKit's own parser test data (test/fixtures/dockerfile/buildkit-parser, see its README):
 * every positive case must dump to `result` byte for byte, every negative case must fail, the
 * line ranges of `testfile-line` must match, and every field of `ast-json/*.json` and
 * `testfiles-extra/<case>/expected.json` (flags, JSON form, heredocs, lines, directives, warnings)
 * must match too.
 */
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { suite } from './util/rig.js';
import { parseDockerfile } from '../engine/dockerfile/parse.js';
import { dumpDockerfile, dumpNode } from '../engine/dockerfile/dump.js';
import type { Node } from '../engine/dockerfile/types.js';

const ROOT = fileURLToPath(new URL('../../test/fixtures/dockerfile/buildkit-parser/', import.meta.url));
const read = (rel: string) => readFileSync(ROOT + rel, 'utf8');
const dirs = (rel: string) => readdirSync(ROOT + rel).sort();

const t = suite('dockerfile-conformance');

// The 33 upstream cases: the whole `result` file is the dump plus one "\n" per instruction.
for (const name of dirs('testfiles')) {
  t.test(`testfiles/${name}: dump equals result byte for byte`, () => {
    const r = parseDockerfile(read(`testfiles/${name}/Dockerfile`), 'Dockerfile');
    if (!r.ok) assert.unreachable(`parse failed: ${JSON.stringify(r.error)}`);
    else assert.fixture(dumpDockerfile(r.value), read(`testfiles/${name}/result`));
  });
}

const NEGATIVE_MESSAGES: Record<string, string> = {
  empty_dockerfile: 'file with no instructions',
  env_no_value: 'ENV must have two arguments',
  only_comments: 'file with no instructions',
  'shykes-nested-json': 'when using JSON array syntax, arrays must be comprised of strings only',
};
for (const name of dirs('testfiles-negative')) {
  t.test(`testfiles-negative/${name}: fails with BuildKit's message`, () => {
    const r = parseDockerfile(read(`testfiles-negative/${name}/Dockerfile`), 'Dockerfile');
    assert.is(r.ok, false);
    if (!r.ok) {
      assert.is(r.error.message, NEGATIVE_MESSAGES[name]);
      assert.ok(r.error.hint, 'a hint');
      assert.ok(r.error.line >= 1 && r.error.column >= 1 && r.error.length >= 1);
    }
  });
}

t.test('testfile-line: instruction ranges [5,5] [11,12] [17,31]', () => {
  const r = parseDockerfile(read('testfile-line/Dockerfile'), 'Dockerfile');
  if (!r.ok) return assert.unreachable(r.error.message);
  assert.equal(
    r.value.nodes.map((n) => [n.startLine, n.endLine]),
    [
      [5, 5],
      [11, 12],
      [17, 31],
    ],
  );
  assert.is(r.value.nodes[0]!.startLine, 5);
  assert.is(r.value.nodes.at(-1)!.endLine, 31);
});

interface ExpectedNode {
  cmd: string;
  flags: string[];
  args: string[];
  json: boolean;
  startLine: number;
  endLine: number;
  original: string;
  heredocs: Node['heredocs'];
  sub?: ExpectedNode;
  dump: string;
}
interface Expected {
  file: string;
  ok: boolean;
  error?: string;
  escapeToken: string;
  directives: { name: string; value: string; line: number }[];
  warnings: string[];
  instructions: ExpectedNode[];
  dump: string;
}

/** Our node in the expected shape. BuildKit never sets lines on ONBUILD's inner node (0). */
function shape(n: Node, top: boolean): ExpectedNode {
  const o: ExpectedNode = {
    cmd: n.cmd,
    flags: n.flags,
    args: n.args,
    json: n.json,
    startLine: top ? n.startLine : 0,
    endLine: top ? n.endLine : 0,
    original: n.original,
    heredocs: n.heredocs,
    dump: dumpNode(n),
  };
  if (n.sub) o.sub = shape(n.sub, false);
  return o;
}

function compare(label: string, text: string, exp: Expected): void {
  t.test(`${label}: matches BuildKit's AST in every field`, () => {
    const r = parseDockerfile(text, 'Dockerfile');
    if (!exp.ok) {
      assert.is(r.ok, false);
      if (!r.ok) assert.is(r.error.message, exp.error);
      return;
    }
    if (!r.ok) return assert.unreachable(JSON.stringify(r.error));
    const v = r.value;
    assert.is(v.escapeToken, exp.escapeToken, 'escape token');
    assert.equal(v.directives, exp.directives, 'directives');
    assert.equal(
      v.warnings.map((w) => w.message),
      exp.warnings,
      'warnings',
    );
    assert.is(v.nodes.length, exp.instructions.length, 'instruction count');
    v.nodes.forEach((n, i) => assert.equal(shape(n, true), exp.instructions[i], `instruction ${i + 1}`));
    assert.fixture(dumpDockerfile(v), exp.dump === '' ? '' : exp.dump + '\n');
  });
}

for (const f of dirs('ast-json')) {
  const exp = JSON.parse(read(`ast-json/${f}`)) as Expected;
  compare(`ast-json/${f}`, read(exp.file), exp);
}
for (const name of dirs('testfiles-extra')) {
  const exp = JSON.parse(read(`testfiles-extra/${name}/expected.json`)) as Expected;
  const text = read(`testfiles-extra/${name}/Dockerfile`);
  compare(`testfiles-extra/${name}`, text, exp);
  t.test(`testfiles-extra/${name}: dump equals result`, () => {
    const r = parseDockerfile(text, 'Dockerfile');
    if (!r.ok) return assert.unreachable(r.error.message);
    assert.fixture(dumpDockerfile(r.value), read(`testfiles-extra/${name}/result`));
  });
}

t.test('empty continuation warnings point at the instruction\'s last line', () => {
  const r = parseDockerfile(read('testfiles-extra/empty-continuation-warnings/Dockerfile'), 'Dockerfile');
  if (!r.ok) return assert.unreachable(r.error.message);
  assert.equal(
    r.value.warnings.map((w) => w.line),
    [11, 15],
  );
});

t.run();
