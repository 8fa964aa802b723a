/**
 * Running the real CLI as an ordinary user: CI machines run as root, users do not. The test
 * user `stratumt` is created on first use with `useradd` (which also grants it a subordinate
 * uid range in /etc/subuid), and the CLI runs under `setpriv` with that user's ids.
 */
import * as assert from 'uvu/assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chownSync, readdirSync, lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, parseEvents, type CliResult } from './cli.js';
import { suite } from './rig.js';

export const TEST_USER = 'stratumt';

/** uid and gid of the test user, creating it when missing. Throws unless run as root. */
export function testUser(): { uid: number; gid: number; home: string } {
  if (process.getuid?.() !== 0) throw new Error('the unprivileged-user tests need to start as root (they create a user and switch to it)');
  const id = () => execFileSync('getent', ['passwd', TEST_USER], { encoding: 'utf8' }).trim().split(':');
  let row: string[];
  try {
    row = id();
  } catch {
    execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', TEST_USER]);
    row = id();
  }
  // useradd grants subordinate ids when login.defs says so; make sure, as the sandbox needs them.
  const sub = (f: string) => {
    try {
      return readFileSync(f, 'utf8').split('\n').some((l) => l.startsWith(`${TEST_USER}:`));
    } catch {
      return false;
    }
  };
  if (!sub('/etc/subuid') || !sub('/etc/subgid')) execFileSync('usermod', ['--add-subuids', '100000-165535', '--add-subgids', '100000-165535', TEST_USER]);
  // The user must reach the compiled CLI (a checkout under a private directory would hide it).
  try {
    execFileSync('setpriv', [`--reuid=${row[2]}`, `--regid=${row[3]}`, '--init-groups', 'test', '-r', CLI]);
  } catch {
    throw new Error(`the test user ${TEST_USER} cannot read ${CLI}: make the checkout's directories traversable (chmod o+x on each parent; .ci/run does)`);
  }
  return { uid: Number(row[2]), gid: Number(row[3]), home: row[5]! };
}

/** Give a tree to the test user (the rig's temp dirs are root's). */
export function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (!lstatSync(path).isDirectory()) return;
  for (const name of readdirSync(path)) {
    const p = join(path, name);
    if (lstatSync(p).isSymbolicLink()) continue;
    chownTree(p, uid, gid);
  }
}

/** Run the CLI as the test user, with a clean environment of that user. */
export function runCliAs(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  const u = testUser();
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: u.home, USER: TEST_USER, LOGNAME: TEST_USER, NO_COLOR: '1', ...opts.env };
  const child = spawn('setpriv', [`--reuid=${u.uid}`, `--regid=${u.gid}`, '--init-groups', process.execPath, CLI, ...args], {
    cwd: opts.cwd ?? '/',
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, events: parseEvents(stdout) })));
}

/**
 * As root (CI), the test file `file` again as the unprivileged user `stratumt` (rootless:
 * subuid mapping, sub-id owned trees), as one test of suite `name`: it passes when every test
 * of the child run passes. The child sees `childEnv=1` and must not register this again.
 */
export function rerunAsTestUser(name: string, what: string, file: string, childEnv: string): void {
  if (process.env[childEnv] === '1' || process.getuid!() !== 0) return;
  const t = suite(name, { timeoutMs: 300_000 });
  t.test(`every ${what} case passes as the unprivileged user ${TEST_USER}`, () => {
    testUser(); // creates stratumt (with its subordinate ids) when missing
    const r = spawnSync('setpriv', ['--reuid', TEST_USER, '--regid', TEST_USER, '--init-groups', '--', process.execPath, file], {
      encoding: 'utf8',
      cwd: '/tmp',
      env: { PATH: process.env.PATH, HOME: '/tmp', [childEnv]: '1', FORCE_COLOR: '0' },
      timeout: 290_000,
    });
    const out = `${r.stdout}\n${r.stderr}`;
    const m = /Total:\s+(\d+)[\s\S]*?Passed:\s+(\d+)/.exec(out);
    assert.ok(r.status === 0 && m && m[1] === m[2], `as ${TEST_USER}:\n${out.replace(/Total:|Passed:|Skipped:/g, (x) => x.toLowerCase())}`);
  });
  t.run();
}
