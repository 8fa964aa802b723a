/**
 * A cache mount's blob (engine/cache-mount-archive.ts): a tree packs and unpacks to the same
 * tree (files, modes, directories, symlinks), the same tree packs to the same bytes, and a
 * hostile archive (an entry that leaves the mount, one below a symlink, a device) is refused
 * without writing outside the destination.
 */
import * as assert from 'uvu/assert';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { suite, Rig } from '../util/rig.js';
import { packDir, unpackTo } from '../../engine/cache-mount-archive.js';

const t = suite('cache mount archives', { timeoutMs: 30_000 });

/** A tar+gzip of raw entries, as a hostile exporter could write it. */
async function hostile(entries: { name: string; type?: 'file' | 'directory' | 'symlink' | 'character-device'; linkname?: string; body?: string }[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const done = new Promise<void>((r) => p.on('end', () => r()));
  for (const e of entries) {
    if (e.type === 'file' || e.type === undefined) p.entry({ name: e.name, type: 'file' }, e.body ?? 'x');
    else p.entry({ name: e.name, type: e.type, ...(e.linkname ? { linkname: e.linkname } : {}) });
  }
  p.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

t.test('a tree packs and unpacks to the same tree, and packs to the same bytes twice', async () => {
  const rig = new Rig('stratum-cm-archive-');
  try {
    rig.write({ 'src/a.txt': 'a', 'src/deep/er/b.bin': 'bb', 'src/empty/.keep': '' });
    chmodSync(rig.path('src/a.txt'), 0o755);
    mkdirSync(rig.path('src/none'));
    symlinkSync('deep/er/b.bin', rig.path('src/link'));
    const one = await packDir(rig.path('src'), rig.path('one.tgz'));
    const two = await packDir(rig.path('src'), rig.path('two.tgz'));
    assert.is(one.digest, two.digest);
    assert.is(one.files, 3);
    assert.is(one.size, readFileSync(rig.path('one.tgz')).length);
    await unpackTo(rig.path('one.tgz'), rig.path('dst'), 'test');
    assert.is(rig.read('dst/a.txt'), 'a');
    assert.is(lstatSync(rig.path('dst/a.txt')).mode & 0o777, 0o755);
    assert.is(rig.read('dst/deep/er/b.bin'), 'bb');
    assert.ok(lstatSync(rig.path('dst/none')).isDirectory());
    assert.is(readlinkSync(rig.path('dst/link')), 'deep/er/b.bin');
  } finally {
    rig.cleanup();
  }
});

for (const [what, entries] of [
  ['an entry that climbs out with ..', [{ name: '../escaped' }]],
  ['an entry below a symlink', [{ name: 'l', type: 'symlink', linkname: '..' }, { name: 'l/escaped' }]],
  ['a device', [{ name: 'dev', type: 'character-device' }]],
] as const) {
  t.test(`refuses ${what}, writing nothing outside the destination`, async () => {
    const rig = new Rig('stratum-cm-hostile-');
    try {
      writeFileSync(rig.path('evil.tgz'), await hostile(entries as never));
      let err: Error | undefined;
      try {
        await unpackTo(rig.path('evil.tgz'), rig.path('dst'), 'cache X: cache mount /dl');
      } catch (e) {
        err = e as Error;
      }
      assert.ok(err, 'unpacked a hostile archive');
      assert.match(err!.message, 'cache X: cache mount /dl');
      assert.not.ok(existsSync(rig.path('escaped')));
    } finally {
      rig.cleanup();
    }
  });
}

t.run();
