/**
 * A real terminal: `stratum watch` runs under tmux (a Debian package; .ci/run installs it),
 * the test edits a file and reads the screen with `tmux capture-pane`.
 */
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { suite, Rig } from './util/rig.js';
import { CLI } from './util/cli.js';

const t = suite('watch tty', { timeoutMs: 60_000 });
const socket = `stratum-test-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });

function hasTmux(): boolean {
  try {
    execFileSync('tmux', ['-V']);
    return true;
  } catch {
    return false;
  }
}

function sessionAlive(): boolean {
  try {
    tmux('has-session', '-t', 'w');
    return true;
  } catch {
    return false; // the session, or the whole server with its last session, is gone
  }
}

async function screenUntil(what: string, pred: (screen: string) => boolean, ms = 20_000): Promise<string> {
  const deadline = Date.now() + ms;
  let screen = '';
  while (Date.now() < deadline) {
    screen = tmux('capture-pane', '-p', '-t', 'w');
    if (pred(screen)) return screen;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting for ${what}; the screen was:\n${screen}`);
}

t.test('the live UI shows HIT and MISS rows, the reason and the time saved after an edit', async () => {
  assert.ok(hasTmux(), 'tmux is not installed (apt-get install tmux); .ci/run installs it');
  const rig = new Rig();
  try {
    rig.write({
      'ctx/Dockerfile': 'FROM scratch\nCOPY deps.txt /\nRUN cp deps.txt installed.txt && sleep 0.3\nCOPY src/ /src/\nRUN cat src/* > bundle.txt\n',
      'ctx/deps.txt': 'x\n',
      'ctx/src/app.txt': 'v1\n',
    });
    const cmd = `NO_COLOR=1 ${process.execPath} ${CLI} watch --progress=tty --cache-dir ${rig.path('store')} --debounce 30 ${rig.path('ctx')}`;
    tmux('new-session', '-d', '-s', 'w', '-x', '120', '-y', '40', cmd);
    await screenUntil('the first build', (s) => /build #1 ok/.test(s) || /#1.*ok/.test(s));
    writeFileSync(rig.path('ctx/src/app.txt'), 'v2\n');
    const screen = await screenUntil('the rebuild', (s) => s.includes('src/app.txt changed') && /build #2 ok/.test(s));
    assert.match(screen, /HIT\s+\[2\/5\] COPY deps\.txt/);
    assert.match(screen, /HIT\s+\[3\/5\] RUN cp deps\.txt/);
    assert.match(screen, /MISS\s+\[4\/5\] COPY src\/ \/src\/\s+src\/app\.txt changed/);
    assert.match(screen, /MISS\s+\[5\/5\] RUN cat/);
    assert.match(screen, /saved/);
    // `q` quits: the session ends with the watcher. (This wait used to swallow its own
    // timeout, so a `q` that did nothing passed.)
    tmux('send-keys', '-t', 'w', 'q');
    const deadline = Date.now() + 10_000;
    while (sessionAlive()) {
      if (Date.now() > deadline) throw new Error(`q did not quit; the screen was:\n${tmux('capture-pane', '-p', '-t', 'w')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    try {
      tmux('kill-server');
    } catch {
      // already gone
    }
    rig.cleanup();
  }
});

t.run();
