/**
 * The step matcher (engine/step-match.ts): which step of the previous build is "the same step".
 * Tables of edits a user makes to a Dockerfile, and the pairing each must give.
 */
import * as assert from 'uvu/assert';
import { suite } from './util/rig.js';
import { matchStages, matchSteps, textSimilarity, SIMILAR, type StepShape } from '../engine/step-match.js';

const shape = (line: string): StepShape => ({ kind: line.split(' ')[0]!, text: line });

/** The pairing as "prevIndex" per next step, `-` for a new step: `0 1 - 2`. */
function pairing(prev: string[], next: string[]): string {
  return matchSteps(prev.map(shape), next.map(shape))
    .map((j) => (j === undefined ? '-' : String(j)))
    .join(' ');
}

const BASE = ['WORKDIR /app', 'COPY package.json ./', 'RUN npm ci', 'COPY src/ ./src/', 'RUN npm run build'];

const cases: [name: string, prev: string[], next: string[], expected: string][] = [
  ['nothing changed', BASE, BASE, '0 1 2 3 4'],
  ['a line inserted above', BASE, ['WORKDIR /app', 'RUN apk add git', 'COPY package.json ./', 'RUN npm ci', 'COPY src/ ./src/', 'RUN npm run build'], '0 - 1 2 3 4'],
  ['a line inserted first', BASE, ['RUN mkdir /x', ...BASE], '- 0 1 2 3 4'],
  ['a line appended', BASE, [...BASE, 'RUN npm test'], '0 1 2 3 4 -'],
  ['a line deleted', BASE, ['WORKDIR /app', 'COPY package.json ./', 'COPY src/ ./src/', 'RUN npm run build'], '0 1 3 4'],
  ['the first line deleted', BASE, BASE.slice(1), '1 2 3 4'],
  ['two adjacent lines swapped', BASE, ['WORKDIR /app', 'RUN npm ci', 'COPY package.json ./', 'COPY src/ ./src/', 'RUN npm run build'], '0 2 1 3 4'],
  ['two distant lines swapped', BASE, ['WORKDIR /app', 'COPY src/ ./src/', 'RUN npm ci', 'COPY package.json ./', 'RUN npm run build'], '0 3 2 1 4'],
  ['a line moved to the end', BASE, ['WORKDIR /app', 'RUN npm ci', 'COPY src/ ./src/', 'RUN npm run build', 'COPY package.json ./'], '0 2 3 4 1'],
  ['one RUN edited', BASE, ['WORKDIR /app', 'COPY package.json ./', 'RUN npm ci --omit=dev', 'COPY src/ ./src/', 'RUN npm run build'], '0 1 2 3 4'],
  ['one RUN rewritten entirely (a line replaced in place)', BASE, ['WORKDIR /app', 'COPY package.json ./', 'RUN ./install.sh', 'COPY src/ ./src/', 'RUN npm run build'], '0 1 2 3 4'],
  ['a RUN replaced by a COPY is a new step (kinds differ)', BASE, ['WORKDIR /app', 'COPY package.json ./', 'COPY vendor/ ./vendor/', 'COPY src/ ./src/', 'RUN npm run build'], '0 1 - 3 4'],
  ['edited and inserted in one gap: the similar one is the edit', BASE, ['WORKDIR /app', 'COPY package.json ./', 'RUN echo hello > /etc/motd', 'RUN npm ci --prefer-offline', 'COPY src/ ./src/', 'RUN npm run build'], '0 1 - 2 3 4'],
  ['a line deleted and the next edited', ['RUN apt-get update', 'RUN apt-get install -y curl', 'COPY . .'], ['RUN apt-get install -y curl git', 'COPY . .'], '1 2'],
  ['whitespace does not make a line different', ['RUN  make   all', 'RUN make\ttest'], ['RUN make test', 'RUN make all'], '1 0'],
  ['the keyword\'s case does not either', ['run make all'], ['RUN make all'], '0'],
  ['identical lines keep their order', ['RUN make', 'COPY a ./', 'RUN make'], ['RUN make', 'COPY b ./', 'COPY a ./', 'RUN make'], '0 - 1 2'],
  ['a step whose text is unlike anything is new, when its gap holds two', ['COPY a ./', 'RUN echo one', 'RUN echo two', 'COPY z ./'], ['COPY a ./', 'RUN curl -fsSL https://x.example | sh', 'COPY z ./'], '0 - 3'],
  ['no earlier build', [], BASE, '- - - - -'],
  ['everything deleted', BASE, [], ''],
  ['a COPY source edited', ['COPY src/a.txt ./'], ['COPY src/b.txt ./'], '0'],
];

const t = suite('step matcher');
for (const [name, prev, next, expected] of cases) {
  t.test(name, () => {
    assert.is(pairing(prev, next), expected);
  });
}

t.test('each previous step is used at most once', () => {
  const m = matchSteps(['RUN make', 'RUN make'].map(shape), ['RUN make', 'RUN make', 'RUN make'].map(shape));
  assert.equal(m, [0, 1, undefined]);
});

const similarity: [a: string, b: string, similar: boolean][] = [
  ['echo one', 'echo two', true],
  ['npm ci', 'npm ci --omit=dev', true],
  ['src/a.txt ./', 'src/b.txt ./', true],
  ['./build.sh', './build2.sh', true],
  ['apt-get install -y curl', 'apt-get install -y curl git', true],
  ['npm ci', 'echo hello > /etc/motd', false],
  ['make', 'curl -fsSL https://x.example | sh', false],
  ['', 'make', false],
  ['x'.repeat(1000), `${'x'.repeat(999)}y`, true],
];
for (const [a, b, similar] of similarity) {
  t.test(`textSimilarity(${JSON.stringify(a.slice(0, 20))}, ${JSON.stringify(b.slice(0, 20))}) ${similar ? '>=' : '<'} SIMILAR`, () => {
    const s = textSimilarity(a, b);
    assert.is(s >= SIMILAR, similar, `similarity ${s}`);
    assert.is(textSimilarity(b, a), s, 'symmetric');
  });
}

const stages: [name: string, prev: (string | null)[], next: (string | null)[], expected: (number | undefined)[]][] = [
  ['same names', ['build', 'app'], ['build', 'app'], [0, 1]],
  ['a stage inserted above', ['build', 'app'], ['deps', 'build', 'app'], [undefined, 0, 1]],
  ['stages reordered', ['a', 'b'], ['b', 'a'], [1, 0]],
  ['a stage renamed falls back to its position', ['build', 'app'], ['compile', 'app'], [0, 1]],
  ['unnamed stages by position', [null, null], [null, null], [0, 1]],
  ['a stage named for the first time', [null, 'app'], ['build', 'app'], [0, 1]],
  ['the position is not taken from a stage claimed by name', ['build', 'app'], ['app', 'other'], [1, undefined]],
  ['no earlier build', [], ['build'], [undefined]],
];
for (const [name, prev, next, expected] of stages) {
  t.test(`stages: ${name}`, () => {
    assert.equal(
      matchStages(
        prev.map((n) => ({ name: n })),
        next.map((n) => ({ name: n })),
      ),
      expected,
    );
  });
}

t.run();
