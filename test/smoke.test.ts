import * as assert from 'uvu/assert';
import { suite, Rig } from './util/rig.js';
import { xxh64, hashFileSync, canonicalJson } from '../cache/hash.js';

const t = suite('hash');
t.test('xxh64 of a file equals xxh64 of its bytes, small and streamed', () => {
  const rig = new Rig();
  try {
    const small = Buffer.from('hello');
    const big = Buffer.alloc(200_000, 7);
    rig.write({ small, big });
    assert.is(hashFileSync(rig.path('small')).digest, xxh64(small));
    assert.equal(hashFileSync(rig.path('big')), { digest: xxh64(big), size: 200_000 });
  } finally {
    rig.cleanup();
  }
});
t.test('canonical JSON sorts keys at every depth and drops undefined', () => {
  assert.is(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: undefined } }), '{"a":{"d":[{"y":2,"z":1}]},"b":1}');
});
t.run();
