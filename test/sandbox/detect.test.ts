/**
 * detect.ts: a capability record, or an error that says what is missing, how to fix it, and
 * that --executor=host opts out. Static checks with fake sysctls; the live probe as is.
 */
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from '../util/rig.js';
import { detectSandbox, subRange, mappingNote } from '../../engine/sandbox/detect.js';
import { initLayerEntries } from '../../engine/sandbox/executor.js';
import { decodeRecs, encodeRecs } from '../../engine/sandbox/ns.js';
import { UnionView } from '../../engine/union-view.js';

const t = suite('sandbox detect');
const root = tmpdir();

t.test('returns a capability record on this machine (live probe)', async () => {
  const r = await detectSandbox({ storeRoot: root });
  assert.ok(r.ok, r.ok ? '' : `${r.error.message}\n${r.error.hint}`);
  if (r.ok) assert.is(r.caps.mapping.kind, process.getuid!() === 0 ? 'root' : r.caps.mapping.kind);
});

t.test('refuses when user namespaces are disabled, with the fix and the opt-out', async () => {
  const r = await detectSandbox({ storeRoot: root, probe: false, sysctl: (n) => (n === 'user.max_user_namespaces' ? '0' : undefined) });
  assert.is(r.ok, false);
  if (!r.ok) {
    assert.is(r.error.code, 'ESANDBOX');
    assert.match(r.error.message, /user namespaces are disabled/);
    assert.match(r.error.hint, /sysctl -w user\.max_user_namespaces=/);
    assert.match(r.error.hint, /--executor=host/);
  }
});

t.test('refuses an AppArmor restriction of unprivileged user namespaces for a non-root user', async () => {
  const r = await detectSandbox({ storeRoot: root, probe: false, uid: 1234, gid: 1234, sysctl: (n) => (n === 'kernel.apparmor_restrict_unprivileged_userns' ? '1' : undefined) });
  assert.is(r.ok, false);
  if (!r.ok) assert.match(r.error.message, /AppArmor/);
  const asRoot = await detectSandbox({ storeRoot: root, probe: false, uid: 0, gid: 0, sysctl: (n) => (n === 'kernel.apparmor_restrict_unprivileged_userns' ? '1' : undefined) });
  assert.ok(asRoot.ok, 'root is not subject to it');
});

t.test('refuses when a tool is missing from PATH', async () => {
  const r = await detectSandbox({ storeRoot: root, probe: false, env: { PATH: '/nonexistent' } });
  assert.is(r.ok, false);
  if (!r.ok) assert.match(r.error.message, /needs perl/);
});

t.test('reads subordinate ranges by name or id; a missing range is noted for chown hints', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stratum-subid-'));
  try {
    writeFileSync(join(dir, 'subuid'), 'alice:100000:65536\n2000:200000:1000\n');
    assert.equal(subRange(join(dir, 'subuid'), 'alice', 1000), { start: 100000, count: 65536 });
    assert.equal(subRange(join(dir, 'subuid'), 'bob', 2000), { start: 200000, count: 1000 });
    assert.is(subRange(join(dir, 'subuid'), 'carol', 3000), undefined);
    assert.match(mappingNote({ kind: 'single', uid: 3000, gid: 3000 })!, /usermod --add-subuids/);
    assert.is(mappingNote({ kind: 'root' }), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t.test('helper records round-trip, empty fields included', () => {
  const recs = decodeRecs(encodeRecs([['env', 'A', ''], ['argv', 'sh', '-c', 'echo hi'], ['netnone']]));
  assert.equal(recs, [['env', 'A', ''], ['argv', 'sh', '-c', 'echo hi'], ['netnone']]);
});

t.test('the init layer holds only missing mount points, with the chain mode of shared parents', () => {
  const lower = UnionView.fromMap(
    new Map([
      ['etc', { type: 'dir', mode: 0o750, uid: 0, gid: 0 }],
      ['etc/hosts', { type: 'file', mode: 0o644, size: 0, digest: 'x' as never }],
      ['proc', { type: 'dir', mode: 0o555 }],
      ['root', { type: 'dir', mode: 0o700, uid: 0, gid: 0 }],
    ] as const),
  );
  const e = initLayerEntries(lower, [
    { path: 'proc', file: false },
    { path: 'tmp', file: false, mode: 0o1777 },
    { path: 'etc/resolv.conf', file: true },
    { path: 'etc/hosts', file: true },
    { path: '/root/.cache/pip', file: false },
  ]);
  assert.equal(
    e.map((x) => [x.path, x.type, 'mode' in x ? x.mode.toString(8) : '']),
    [
      ['tmp', 'dir', '1777'],
      ['etc', 'dir', '750'],
      ['etc/resolv.conf', 'file', '644'],
      ['root', 'dir', '700'],
      ['root/.cache', 'dir', '755'],
      ['root/.cache/pip', 'dir', '755'],
    ],
  );
});

t.run();
