import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { suite } from './util/rig.js';
import { EMPTY_CHAIN, isDigestHex } from '../cache/digest.js';
import { canonicalJson } from '../cache/hash.js';
import { explainMiss } from '../engine/explain-miss.js';
import { filesDigest, KEY_SCHEMA, ociPlatform, stepKey, type KeyRecordV2 } from '../engine/step-key.js';

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

t.run();
