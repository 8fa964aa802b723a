/**
 * `run -it` and `exec -it` on a real terminal: the CLI runs in a tmux pane, the test types
 * into it (send-keys) and reads the screen (capture-pane), as test/watch-tty.test.ts does.
 * Run as root, then the same file again as the unprivileged user `stratumt`.
 */
import * as assert from 'uvu/assert';
import { rerunAsTestUser } from '../util/unprivileged.js';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { suite, Rig } from '../util/rig.js';
import { CLI, runCli } from '../util/cli.js';
import { busyboxBase } from '../util/base-images.js';

const t = suite('containers tty', { timeoutMs: 120_000 });
const socket = `stratum-cont-tty-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
let rig: Rig;
const store = () => rig.path('store');

t.before(async () => {
  rig = new Rig('stratum-cont-tty-');
  const r = await runCli(['load', await busyboxBase(), '-t', 'busybox:latest', '--cache-dir', store()]);
  assert.is(r.code, 0, r.stderr);
});
t.after(async () => {
  try {
    tmux('kill-server');
  } catch {
    // no server left
  }
  const left = rig ? (await runCli(['ps', '-aq', '--cache-dir', store()])).stdout.split('\n').filter(Boolean) : [];
  if (left.length) await runCli(['rm', '-f', '--cache-dir', store(), ...left]);
  rig?.cleanup();
});

/** capture-pane drops trailing blanks: the prompt `/ # ` reads `/ #`. A failed test leaves no session. */
const killSession = () => {
  try {
    tmux('kill-session', '-t', 'w');
  } catch {
    // none
  }
};
const screen = () => tmux('capture-pane', '-p', '-t', 'w');
async function until(what: string, pred: (screen: string) => boolean, ms = 30_000): Promise<string> {
  const deadline = Date.now() + ms;
  let s = '';
  while (Date.now() < deadline) {
    s = screen();
    if (pred(s)) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; the screen was:\n${s}`);
}
const type = (line: string) => tmux('send-keys', '-t', 'w', '-l', line + '\r');
/** The pane's command: the CLI, then its exit code on the screen once it returns. */
const pane = (args: string) => `NO_COLOR=1 ${process.execPath} ${CLI} ${args}; echo EXIT=$?; sleep 120`;

t.test('run -it: tty, window size and its changes, Ctrl-C and Ctrl-Z to the container, exit code', async () => {
  killSession();
  tmux('new-session', '-d', '-s', 'w', '-x', '100', '-y', '30', pane(`run --cache-dir ${store()} --name it1 -it busybox sh`));
  await until('the prompt', (s) => /# *$/m.test(s));
  type('tty; stty size; echo pid=$$; ps -o pid,sid,comm | grep -w sh');
  let s = await until('tty and size', (x) => /pid=2/.test(x) && /^\s*2\s+2\s+sh/m.test(x));
  assert.match(s, /^\/dev\/pts\/0$/m);
  assert.match(s, /^30 100$/m);
  tmux('resize-window', '-t', 'w', '-x', '90', '-y', '20');
  type('clear; stty size');
  s = await until('the new size', (x) => /^20 90$/m.test(x));
  // Ctrl-C interrupts the foreground job inside; the session (and stratum) live on.
  type("clear; sh -c 'echo sleeping; exec sleep 100'");
  await until('sleep 100 running', (x) => /^sleeping$/m.test(x));
  tmux('send-keys', '-t', 'w', 'C-c');
  type('echo after=$?');
  await until('Ctrl-C reached sleep', (x) => /after=130/.test(x));
  // Job control: Ctrl-Z stops the foreground job, the shell lists it.
  type("clear; sh -c 'echo napping; exec sleep 101'");
  await until('sleep 101 running', (x) => /^napping$/m.test(x));
  tmux('send-keys', '-t', 'w', 'C-z');
  type('jobs; kill -9 %1');
  await until('jobs lists it stopped', (x) => /Stopped/.test(x.split('jobs; kill -9')[1] ?? ''));
  type('echo reaped'); // ash reports the killed job at the next prompt
  await until('the job killed', (x) => /Killed/.test(x.split('jobs; kill -9')[1] ?? ''));
  type('exit 3');
  s = await until('the exit', (x) => /EXIT=\d+/.test(x));
  assert.match(s, /EXIT=3/);
  const ps = await runCli(['ps', '-a', '--format', 'json', '--cache-dir', store()]);
  const rec = ps.stdout.trim().split('\n').map((l) => JSON.parse(l) as { name: string; state: { status: string; exitCode: number } }).find((c) => c.name === 'it1');
  assert.is(rec?.state.status, 'exited');
  assert.is(rec?.state.exitCode, 3);
  const logs = await runCli(['logs', 'it1', '--cache-dir', store()]);
  assert.match(logs.stdout, /\/dev\/pts\/0/, 'a tty container is logged too');
  killSession();
});

t.test('exec -it: a shell on a pty of the running container', async () => {
  const d = await runCli(['run', '--cache-dir', store(), '-d', '--name', 'ex1', 'busybox', 'sleep', '621']);
  assert.is(d.code, 0, d.stderr);
  killSession();
  tmux('new-session', '-d', '-s', 'w', '-x', '80', '-y', '24', pane(`exec --cache-dir ${store()} -it ex1 sh`));
  await until('the prompt', (s) => /# *$/m.test(s));
  type('tty; stty size; ps -o pid,comm | grep -c sleep');
  const s = await until('tty', (x) => /^24 80$/m.test(x));
  assert.match(s, /^\/dev\/pts\/\d+$/m);
  type('exit 4');
  assert.match(await until('the exit', (x) => /EXIT=\d+/.test(x)), /EXIT=4/);
  killSession();
  const still = await runCli(['exec', '--cache-dir', store(), 'ex1', 'true']);
  assert.is(still.code, 0, 'the container outlives the exec session');
});

t.run();

rerunAsTestUser('containers tty rootless', 'tty', fileURLToPath(import.meta.url), 'STRATUM_CONTAINERS_CHILD');
