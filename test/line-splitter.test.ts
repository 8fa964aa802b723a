/** Output lines: split at \n, \r dropped, the last line kept, UTF-8 intact across chunks. */
import * as assert from 'uvu/assert';
import { suite } from './util/rig.js';
import { lineSplitter } from '../engine/line-splitter.js';

const t = suite('line splitter');

t.test('a character split between two chunks arrives whole', () => {
  const lines: string[] = [];
  const s = lineSplitter((l) => lines.push(l));
  const bytes = Buffer.from('héllo wörld\r\nsecond ✓\nlast');
  // Cut inside the two-byte é and the three-byte ✓.
  const cuts = [2, bytes.indexOf(Buffer.from('✓')) + 1];
  s.data(bytes.subarray(0, cuts[0]));
  s.data(bytes.subarray(cuts[0], cuts[1]));
  s.data(bytes.subarray(cuts[1]));
  s.end();
  assert.equal(lines, ['héllo wörld', 'second ✓', 'last']);
});

t.run();
