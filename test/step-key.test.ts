import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { suite } from './util/rig.js';
import { EMPTY_CHAIN, isDigestHex } from '../cache/digest.js';
import { canonicalJson } from '../cache/hash.js';
import { diffFiles, explainMiss } from '../engine/explain-miss.js';
import { filesDigest, KEY_SCHEMA, ociPlatform, stepKey, type FileRow, type KeyRecordV2 } from '../engine/step-key.js';

const t = suite('step key');

const record = (over: Partial<KeyRecordV2> = {}): KeyRecordV2 => ({
  schema: KEY_SCHEMA,
  op: 'RUN',
  platform: 'linux/amd64',
  executor: 'host',
  parent: EMPTY_CHAIN,
  instruction: 'make',
  flags: {},
  ...over,
});

t.test('a key is the sha256 of the canonical record, schema 2', () => {
  assert.is(KEY_SCHEMA, 2);
  const r = record();
  const key = stepKey(r);
  assert.ok(isDigestHex(key));
  assert.is(key, createHash('sha256').update(canonicalJson(r)).digest('hex'));
  assert.is(filesDigest([['a', 'f', 0o644, 'd'.repeat(64)]]), createHash('sha256').update(JSON.stringify([['a', 'f', 0o644, 'd'.repeat(64)]])).digest('hex'));
});

t.test('platform and executor are part of the key, and a miss names them', () => {
  const base = record();
  const other = [record({ executor: 'sandbox' }), record({ executor: 'host-tools' }), record({ platform: 'linux/arm64' })];
  for (const r of other) assert.is.not(stepKey(r), stepKey(base), JSON.stringify(r));
  assert.is(explainMiss({ record: base }, record({ executor: 'sandbox' }), undefined).text, 'executor changed (host → sandbox)');
  assert.is(explainMiss({ record: base }, record({ platform: 'linux/arm64' }), undefined).text, 'platform changed (linux/amd64 → linux/arm64)');
});

t.test('the platform uses OCI names', () => {
  assert.is(ociPlatform('linux', 'x64'), 'linux/amd64');
  assert.is(ociPlatform('linux', 'arm64'), 'linux/arm64');
  assert.is(ociPlatform('linux', 'ia32'), 'linux/386');
  assert.is(ociPlatform('darwin', 'arm64'), 'darwin/arm64');
  assert.is(ociPlatform('win32', 'x64'), 'windows/amd64');
  assert.match(ociPlatform(), /^[a-z0-9]+\/[a-z0-9]+$/);
});

t.test('a files miss names changed, added and removed paths, files before directories', () => {
  const f = (p: string, d: string): FileRow => [p, 'f', 0o644, d];
  const dir = (p: string): FileRow => [p, 'd', 0o755, ''];
  const before = [dir('a'), f('a/1', 'x'), f('a/2', 'x'), dir('gone'), f('gone/g', 'x'), f('z', 'x')];
  const after = [dir('a'), f('a/1', 'y'), f('a/3', 'x'), dir('new'), f('new/n', 'x'), f('z', 'x')];
  assert.equal(diffFiles(before, after), { changed: ['a/1'], added: ['a/3', 'new/n', 'new'], removed: ['a/2', 'gone/g', 'gone'] });
  // The same answer from lists in another order.
  assert.equal(diffFiles([...before].reverse(), [...after].reverse()), diffFiles(before, after));
  const why = explainMiss({ record: record({ op: 'COPY', files: { digest: filesDigest(before), count: 6 } }), files: before }, record({ op: 'COPY', files: { digest: filesDigest(after), count: 6 } }), after);
  assert.is(why.text, 'a/1 changed; a/3, new/n, new added; a/2, gone/g, gone removed');
});

t.run();
