/** toUserError (store, context, copy and errno errors → one UserError) and the env module. */
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { suite, Rig } from './util/rig.js';
import { EXIT, formatError, toUserError, UserError } from '../engine/errors.js';
import { readEnv } from '../engine/env.js';
import { ContextError } from '../engine/context.js';
import { CopyError } from '../engine/copy.js';
import { StoreError } from '../cache/store-types.js';

const t = suite('errors');

function errnoOf(fn: () => unknown): NodeJS.ErrnoException {
  try {
    fn();
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
  throw new Error('did not throw');
}

t.test('Node errno errors: code, syscall and path in the message, a hint per code, exit 3', () => {
  const rig = new Rig();
  try {
    writeFileSync(rig.path('f'), 'x');
    const notDir = toUserError(errnoOf(() => mkdirSync(rig.path('f', 'd'))))!;
    assert.equal([notDir.code, notDir.message, notDir.exitCode, notDir.path], ['ENOTDIR', `mkdir ${rig.path('f', 'd')}: not a directory (ENOTDIR)`, EXIT.io, rig.path('f', 'd')]);
    assert.match(notDir.hint!, 'is a file, not a directory');
    const exists = toUserError(errnoOf(() => mkdirSync(rig.path('f'))))!;
    assert.equal([exists.code, exists.message], ['EEXIST', `mkdir ${rig.path('f')}: file already exists (EEXIST)`]);
  } finally {
    rig.cleanup();
  }
  const fake = (code: string) => Object.assign(new Error(`${code}: whatever, open '/s/x'`), { code, syscall: 'open', path: '/s/x' });
  const hints: Record<string, RegExp> = { ENOSPC: /disk is full.*stratum prune/, EACCES: /permission denied/, EROFS: /read-only/, EDQUOT: /quota/, EMFILE: /ulimit -n/ };
  for (const [code, hint] of Object.entries(hints)) {
    const u = toUserError(fake(code))!;
    assert.is(u.code, code);
    assert.is(u.message, `open /s/x: whatever (${code})`);
    assert.match(u.hint!, hint, code);
  }
  assert.is(toUserError(fake('EWEIRD'))!.code, 'EIO_OTHER');
});

t.test('store errors: EIO keeps its errno (and its hint), EINVALID names are usage errors', () => {
  const eio = toUserError(new StoreError('EIO', "store: write failed for /s/blobs/x: ENOSPC: no space left on device, write", { op: 'write', path: '/s/blobs/x', errno: 'ENOSPC' }))!;
  assert.equal([eio.code, eio.message, eio.exitCode], ['ENOSPC', 'store: write /s/blobs/x: no space left on device (ENOSPC)', EXIT.io]);
  assert.match(eio.hint!, 'disk is full');
  const corrupt = toUserError(new StoreError('ECORRUPT', 'blob x is corrupt'))!;
  assert.equal([corrupt.code, corrupt.message, corrupt.exitCode], ['ECORRUPT', 'store error: blob x is corrupt', EXIT.io]);
  assert.match(corrupt.hint!, 'stratum cache verify');
  const name = toUserError(new StoreError('EINVALID', 'invalid image name "A": use [registry/]path[:tag], e.g. webapp:dev', { name: 'A' }))!;
  assert.equal([name.code, name.message, name.exitCode], ['BAD_IMAGE_NAME', 'invalid image name "A"', EXIT.usage]);
});

t.test('context and copy errors keep their hint; a plain Error is a bug (undefined)', () => {
  const c = toUserError(new ContextError('OUTSIDE', '"../x" is outside the build context', 'keep files in the context'))!;
  assert.equal([c.code, c.message, c.hint, c.exitCode], ['CONTEXT_OUTSIDE', '"../x" is outside the build context', 'keep files in the context', EXIT.usage]);
  const k = toUserError(new CopyError('no source files', 'check the path'))!;
  assert.equal([k.code, k.hint], ['COPY', 'check the path']);
  assert.is(toUserError(new TypeError('x is undefined')), undefined);
  const u = new UserError('USAGE', 'm', 'h', EXIT.usage);
  assert.is(toUserError(u), u);
});

t.test('formatError: error:/hint: lines; with a diagnostic, the line underlined', () => {
  assert.is(formatError(new UserError('USAGE', 'bad', 'do this', EXIT.usage)), 'error: bad\nhint: do this');
  assert.is(formatError(new UserError('USAGE', 'bad', undefined, EXIT.usage)), 'error: bad');
  const d = { code: 'DF_JSON', message: 'm', hint: 'h', file: 'Dockerfile', line: 2, column: 5, length: 3 };
  assert.is(formatError(UserError.fromDiagnostic(d), 'FROM a\nCMD [1]\r\n'), 'error: Dockerfile:2:5: m\n2 | CMD [1]\n  |     ^^^\nhint: h');
});

t.test('readEnv: valid values parsed, empty is unset, invalid ones name the variable', () => {
  assert.equal(readEnv({ SOURCE_DATE_EPOCH: '0', STRATUM_JOBS: '3', STRATUM_EXECUTOR: 'host', STRATUM_CACHE_DIR: '/c', STRATUM_STORE_FAULT: 'kill@2' }), {
    sourceDateEpoch: 0,
    cacheDir: '/c',
    executor: 'host',
    jobs: 3,
    storeFault: 'kill@2',
  });
  assert.equal(readEnv({ SOURCE_DATE_EPOCH: '', STRATUM_JOBS: '' }), {});
  const bad: Record<string, string>[] = [{ SOURCE_DATE_EPOCH: '1.5' }, { SOURCE_DATE_EPOCH: '1e3' }, { SOURCE_DATE_EPOCH: '99999999999999' }, { STRATUM_JOBS: '2.0' }, { STRATUM_JOBS: '-1' }, { STRATUM_EXECUTOR: 'Sandbox' }, { STRATUM_CACHE_DIR: 'a\0b' }];
  for (const env of bad) {
    const [name, value] = Object.entries(env)[0]!;
    try {
      readEnv(env);
      assert.unreachable(`${name}=${value} accepted`);
    } catch (err) {
      assert.instance(err, UserError);
      assert.is((err as UserError).code, 'ENV_INVALID');
      assert.is((err as UserError).exitCode, EXIT.usage);
      assert.match((err as UserError).message, `environment variable ${name}=${JSON.stringify(value)} is invalid: expected `);
    }
  }
});

t.run();
