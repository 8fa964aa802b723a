import * as assert from 'uvu/assert';
import { suite, Rig } from './util/rig.js';
import { xxh64, sha256, hashFileSync, hashFileXxh64Sync, canonicalJson } from '../cache/hash.js';

const t = suite('hash');
t.test('sha256 of a file equals sha256 of its bytes, small and streamed', () => {
  const rig = new Rig();
  try {
    const small = Buffer.from('hello');
    const big = Buffer.alloc(200_000, 7);
    rig.write({ small, big });
    assert.is(hashFileSync(rig.path('small')).digest, sha256(small));
    // The well-known sha256 of "hello", so the content digest is plain sha256 of the bytes.
    assert.is(hashFileSync(rig.path('small')).digest, '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
    assert.equal(hashFileSync(rig.path('big')), { digest: sha256(big), size: 200_000 });
  } finally {
    rig.cleanup();
  }
});
t.test('xxh64 of a file equals xxh64 of its bytes, small and streamed', () => {
  const rig = new Rig();
  try {
    const small = Buffer.from('hello');
    const big = Buffer.alloc(200_000, 7);
    rig.write({ small, big });
    assert.is(hashFileXxh64Sync(rig.path('small')).digest, xxh64(small));
    assert.equal(hashFileXxh64Sync(rig.path('big')), { digest: xxh64(big), size: 200_000 });
  } finally {
    rig.cleanup();
  }
});
t.test('canonical JSON sorts keys at every depth and drops undefined', () => {
  assert.is(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: undefined } }), '{"a":{"d":[{"y":2,"z":1}]},"b":1}');
});
t.run();
