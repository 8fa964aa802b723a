/**
 * The sandbox suite: every case as the user running the tests, and, when that is root, the
 * same cases again as the unprivileged user `stratumt` (rootless: subuid mapping, sub-id owned
 * trees only readable inside the namespace). Nothing is skipped: a missing capability fails
 * with the detect error, a missing `stratumt` user fails with how to create it.
 */
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { defineCases } from './sandbox-cases.js';
import { suite } from '../util/rig.js';
import { testUser } from '../util/unprivileged.js';

const asChild = process.env.STRATUM_SANDBOX_CHILD === '1';
const me = process.getuid!() === 0 ? 'root' : `uid ${process.getuid!()}`;
defineCases(me).run();

if (!asChild && process.getuid!() === 0) {
  const t = suite('sandbox rootless');
  t.test('every sandbox case passes as the unprivileged user stratumt', () => {
    testUser(); // creates stratumt (with its subordinate ids) when missing
    const file = fileURLToPath(import.meta.url);
    const r = spawnSync('setpriv', ['--reuid', 'stratumt', '--regid', 'stratumt', '--init-groups', '--', process.execPath, file], {
      encoding: 'utf8',
      cwd: '/tmp',
      env: { PATH: process.env.PATH, HOME: '/tmp', STRATUM_SANDBOX_CHILD: '1', FORCE_COLOR: '0' },
      timeout: 300_000,
    });
    const out = `${r.stdout}\n${r.stderr}`;
    const m = /Total:\s+(\d+)[\s\S]*?Passed:\s+(\d+)/.exec(out);
    assert.ok(r.status === 0 && m && m[1] === m[2], `as stratumt:\n${out.replace(/Total:|Passed:|Skipped:/g, (s) => s.toLowerCase())}`);
  }, 300_000);
  t.run();
}
