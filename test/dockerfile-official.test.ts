/**
 * Real-world Dockerfiles (official images and Docker's own projects, listed with their sources
 * in test/fixtures/dockerfile/official/README.md): each must parse, convert to typed
 * instructions, and expand, with no error.
 */
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { suite } from './util/rig.js';
import { parseDockerfile } from '../engine/dockerfile/parse.js';
import { toInstructions } from '../engine/dockerfile/instructions.js';
import { expandInstruction } from '../engine/dockerfile/expand.js';
import { formatDiagnostic } from '../engine/errors.js';

const DIR = fileURLToPath(new URL('../../test/fixtures/dockerfile/official/', import.meta.url));
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.Dockerfile'))
  .sort();

const t = suite('dockerfile-official');

t.test('the fixture set holds at least 15 Dockerfiles, each listed in the README', () => {
  assert.ok(files.length >= 15, `${files.length} files`);
  const readme = readFileSync(DIR + 'README.md', 'utf8');
  for (const f of files) assert.ok(readme.includes('`' + f + '`'), `${f} missing from README.md`);
});

for (const f of files) {
  t.test(`${f}: parses, converts and expands without an error`, () => {
    const text = readFileSync(DIR + f, 'utf8');
    const p = parseDockerfile(text, f);
    if (!p.ok) return assert.unreachable(formatDiagnostic(p.error, text));
    const r = toInstructions(p.value);
    if (!r.ok) return assert.unreachable(formatDiagnostic(r.error, text));
    assert.ok(r.value.some((i) => i.kind === 'FROM'));
    // Every variable set: expansion must succeed wherever Docker expands.
    for (const ins of r.value) {
      const x = expandInstruction(ins, () => 'value', p.value.escapeToken);
      if (!x.ok) assert.unreachable(formatDiagnostic(x.error, text));
    }
  });
}

t.test('spot checks: what the parser makes of some well-known lines', () => {
  const read = (f: string) => {
    const p = parseDockerfile(readFileSync(DIR + f, 'utf8'), f);
    if (!p.ok) throw new Error(p.error.message);
    const r = toInstructions(p.value);
    if (!r.ok) throw new Error(r.error.message);
    return { parsed: p.value, instructions: r.value };
  };
  const buildx = read('buildx-0.7.Dockerfile');
  assert.equal(buildx.parsed.directives, [{ name: 'syntax', value: 'docker/dockerfile:1.3', line: 1 }]);
  const run = buildx.instructions.find((i) => i.kind === 'RUN' && i.mounts.length === 4);
  assert.ok(run && run.kind === 'RUN');
  if (run?.kind === 'RUN') assert.equal(run.mounts.map((m) => [m.type, m.target, m.from]), [
    ['bind', '.', undefined],
    ['cache', '/root/.cache', undefined],
    ['cache', '/go/pkg/mod', undefined],
    ['bind', '/tmp/.ldflags', 'buildx-version'],
  ]);
  const win = read('golang-1.22-nanoserver-ltsc2022.Dockerfile');
  const copy = win.instructions.find((i) => i.kind === 'COPY');
  assert.ok(copy?.kind === 'COPY' && copy.node.json);
  if (copy?.kind === 'COPY') assert.equal([copy.from, copy.sources, copy.dest], ['golang:1.22.6-windowsservercore-ltsc2022', ['C:\\\\Program Files\\\\Go'], 'C:\\\\Program Files\\\\Go']);
  const pg = read('postgres-16-alpine3.20.Dockerfile');
  const configure = pg.parsed.nodes.find((n) => n.original.includes('--enable-option-checking'));
  // The commented-out configure options inside the continuation are dropped.
  assert.ok(configure && !configure.original.includes('--enable-nls') && configure.original.includes('--enable-integer-datetimes'));
});

t.run();
