/**
 * STOPSIGNAL as `stratum stop` sends it: every name the Dockerfile check accepts maps to the
 * signal Docker would send (names, numbers, the real-time range as glibc numbers it).
 */
import * as assert from 'uvu/assert';
import { constants } from 'node:os';
import { suite } from './util/rig.js';
import { normSignal } from '../engine/containers/supervise.js';

const t = suite('stop signal');

t.test('names with or without SIG, any case; numbers; RTMIN+n and RTMAX-n; anything else is SIGTERM', () => {
  assert.is(normSignal('SIGWINCH'), 'SIGWINCH');
  assert.is(normSignal('quit'), 'SIGQUIT');
  assert.is(normSignal('SIGTERM'), 'SIGTERM');
  assert.is(normSignal('9'), 9);
  assert.is(normSignal('SIGRTMIN+3'), 37); // systemd's
  assert.is(normSignal('RTMIN'), 34);
  assert.is(normSignal('SIGRTMAX-1'), 63);
  assert.is(normSignal('SIGRTMAX+1'), 'SIGTERM');
  assert.is(normSignal('0'), 'SIGTERM');
  assert.is(normSignal('SIGNOPE'), 'SIGTERM');
  for (const name of Object.keys(constants.signals)) assert.is(normSignal(name), name, name);
});

t.run();
