/**
 * Containers end to end: the real CLI, the real sandbox, a busybox image loaded into a temp
 * store. Every test names its containers; the store is removed at the end.
 */
import { hostname } from 'node:os';
import * as assert from 'uvu/assert';
import { rerunAsTestUser } from '../util/unprivileged.js';
import { freePort } from '../registry/kit.js';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { alive, suite, Rig } from '../util/rig.js';
import { runCli, startCli, type CliResult } from '../util/cli.js';
import { busyboxBase } from '../util/base-images.js';
import { WatchSession } from '../util/watch-session.js';

const t = suite('containers', { timeoutMs: 120_000 });
let rig: Rig;
/** The CLI on the test's store: `s('run', ...)` is `stratum run --cache-dir STORE ...`. */
const s = (command: string, ...args: string[]): Promise<CliResult> => runCli([command, '--cache-dir', rig.path('store'), ...args], { cwd: rig.dir });

t.before(async () => {
  rig = new Rig('stratum-cont-');
  const r = await runCli(['load', await busyboxBase(), '-t', 'busybox:latest', '--cache-dir', rig.path('store')]);
  assert.is(r.code, 0, r.stderr);
});
t.after(async () => {
  // A failed test can leave a detached container: its shim would outlive the store.
  const left = rig ? (await s('ps', '-aq')).stdout.split('\n').filter(Boolean) : [];
  if (left.length) await s('rm', '-f', ...left);
  rig?.cleanup();
});

function ok(r: CliResult, what: string): CliResult {
  assert.is(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

async function state(name: string): Promise<{ id: string; state: { status: string; exitCode?: number | null; helperPid?: number; pid?: number } }> {
  const r = ok(await s('ps', '-a', '--format', 'json'), 'ps');
  const all = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const c = all.find((x: { name: string }) => x.name === name);
  assert.ok(c, `no container ${name} in ps -a`);
  return c;
}

t.test('a foreground run streams output and exits with the container code', async () => {
  const r = await s('run', '--name', 'fg', 'busybox:latest', 'sh', '-c', 'echo out; echo err >&2; echo pid $$; exit 7');
  assert.is(r.code, 7, r.stderr);
  assert.match(r.stdout, /out\n/);
  assert.match(r.stdout, /pid 2\n/); // PID 1 is the init that reaps and forwards signals
  assert.match(r.stderr, /err/);
  const c = await state('fg');
  assert.is(c.state.status, 'exited');
  assert.is(c.state.exitCode, 7);
  assert.match(ok(await s('logs', 'fg'), 'logs').stdout, /out\n[\s\S]*err/);
  ok(await s('rm', 'fg'), 'rm');
});

t.test('diff shows A/C/D; a file deleted in the container is absent inside and present in the image', async () => {
  const r = await s('run', '--name', 'd1', 'busybox', 'sh', '-c', 'rm /bin/vi; echo new > /added.txt; echo more >> /etc/passwd; echo t > /tmp/t; ls /bin/vi');
  assert.is(r.code, 1);
  assert.match(r.stderr, /\/bin\/vi: No such file/);
  const diff = ok(await s('diff', 'd1'), 'diff').stdout;
  for (const line of ['D /bin/vi', 'A /added.txt', 'C /etc/passwd', 'C /bin', 'C /etc', 'C /tmp', 'A /tmp/t']) assert.ok(diff.split('\n').includes(line), `diff lacks "${line}":\n${diff}`);
  ok(await s('run', '--rm', 'busybox', 'ls', '/bin/vi'), 'the image still has /bin/vi');
});

t.test('commit turns the writable layer into an image that run sees', async () => {
  ok(await s('commit', 'd1', 'busybox:patched'), 'commit');
  const r = ok(await s('run', '--rm', 'busybox:patched', 'sh', '-c', 'cat /added.txt; tail -1 /etc/passwd; ls /bin/vi || echo gone'), 'run patched');
  assert.is(r.stdout, 'new\nmore\ngone\n');
  ok(await s('rm', 'd1'), 'rm');
  // prune keeps the layers of every image (and of containers' images).
  ok(await s('prune', '--grace', '0s'), 'prune');
  ok(await s('run', '--rm', 'busybox:patched', 'cat', '/added.txt'), 'after prune');
});

t.test('a named volume keeps its data across rm and run; anonymous volumes go with rm -v', async () => {
  ok(await s('run', '--name', 'v1', '-v', 'appdata:/data', '-v', '/scratch', 'busybox', 'sh', '-c', 'echo kept > /data/f; echo tmp > /scratch/x'), 'write');
  const vols = ok(await s('volume', 'ls', '-q'), 'volume ls').stdout.trim().split('\n');
  const du = JSON.parse(ok(await s('du', '-v', '--format', 'json'), 'du -v').stdout) as { verbose: { volumes: { name: string; links: number; size: number }[] } };
  const appdata = du.verbose.volumes.find((v) => v.name === 'appdata');
  assert.ok(appdata && appdata.links === 1 && appdata.size === 'kept\n'.length, JSON.stringify(du.verbose.volumes));
  assert.ok(vols.includes('appdata'), vols.join(','));
  assert.is(vols.length, 2);
  ok(await s('rm', '-v', 'v1'), 'rm -v');
  assert.equal(ok(await s('volume', 'ls', '-q'), 'volume ls').stdout.trim().split('\n'), ['appdata']);
  const r = ok(await s('run', '--rm', '-v', 'appdata:/data', 'busybox', 'cat', '/data/f'), 'read back');
  assert.is(r.stdout, 'kept\n');
  // A new named volume starts with the image's content at its path, as Docker's do.
  const seeded = ok(await s('run', '--rm', '-v', 'etcvol:/etc', 'busybox', 'sh', '-c', 'grep -c root /etc/passwd'), 'seeded');
  assert.ok(Number(seeded.stdout) >= 1);
  ok(await s('volume', 'rm', 'etcvol'), 'volume rm');
});

t.test('a bind mount :ro refuses writes, a rw one takes them', async () => {
  rig.write({ 'conf/app.conf': 'port=1\n' });
  const r = await s('run', '--rm', '-v', './conf:/etc/app:ro', 'busybox', 'sh', '-c', 'cat /etc/app/app.conf; echo x > /etc/app/new');
  assert.is(r.code, 1);
  assert.match(r.stdout, /port=1/);
  assert.match(r.stderr, /Read-only file system/);
  ok(await s('run', '--rm', '-v', `${rig.path('conf')}:/etc/app`, 'busybox', 'sh', '-c', 'echo y > /etc/app/new'), 'rw bind');
  assert.is(readFileSync(rig.path('conf/new'), 'utf8'), 'y\n');
});

t.test('run -d serves httpd on the host network; exec, logs, stop, rm', async () => {
  const port = await freePort();
  rig.write({ 'www/index.html': 'hello from the container\n' });
  const r = ok(await s('run', '-d', '--name', 'web', '-p', `${port}:${port}`, '-v', './www:/www:ro', 'busybox', 'httpd', '-f', '-v', '-p', `127.0.0.1:${port}`, '-h', '/www'), 'run -d');
  assert.match(r.stdout, /^[0-9a-f]{64}\n$/);
  let body = '';
  for (let i = 0; i < 100 && !body; i++) {
    try {
      body = await (await fetch(`http://127.0.0.1:${port}/index.html`)).text();
    } catch {
      await sleep(50);
    }
  }
  assert.is(body, 'hello from the container\n');
  const ps = ok(await s('ps'), 'ps').stdout;
  assert.match(ps, /web/);
  assert.match(ps, /host network/);
  const ex = ok(await s('exec', 'web', 'sh', '-c', 'ls /www; cat /proc/1/cmdline | tr "\\0" " "'), 'exec');
  assert.match(ex.stdout, /index.html/);
  assert.match(ex.stdout, /stratum-init/);
  assert.match(ok(await s('logs', 'web'), 'logs').stdout, /response:200/);
  const before = await state('web');
  ok(await s('stop', 'web'), 'stop');
  const after = await state('web');
  assert.is(after.state.status, 'exited');
  assert.is(after.state.exitCode, 143);
  assert.ok(!alive(before.state.helperPid!), 'the sandbox helper is gone');
  const rmRunning = await s('run', '-d', '--name', 'web2', 'busybox', 'sleep', '600');
  ok(rmRunning, 'run -d sleep');
  const refused = await s('rm', 'web2');
  assert.is(refused.code, 2);
  assert.match(refused.stderr, /is running/);
  ok(await s('rm', '-f', 'web2', 'web'), 'rm -f');
  assert.not.match(ok(await s('ps', '-a'), 'ps -a').stdout, /web/);
});

/** Every process below `pid` (by /proc's parent links). */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const st = readFileSync(`/proc/${n}/stat`, 'utf8');
      parent.set(Number(n), Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of parent) if (pp === p) (out.push(c), walk(c));
  };
  walk(pid);
  return out;
}
const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
};

t.test('a killed foreground stratum leaves no container process, and ps shows it exited', async () => {
  const run = startCli(['run', '--cache-dir', rig.path('store'), '--name', 'k9', 'busybox', 'sleep', '600'], { cwd: rig.dir });
  let c = await state('k9').catch(() => undefined);
  for (let i = 0; i < 200 && c?.state.status !== 'running'; i++) {
    await sleep(50);
    c = await state('k9').catch(() => undefined);
  }
  assert.is(c?.state.status, 'running');
  const helper = c!.state.helperPid!;
  assert.ok(alive(helper));
  // The container's own `sleep 600` (other suites on the machine may run one too). "running" is
  // recorded once the helper is up; its init may not have exec'd the command yet.
  const ownSleep = () => descendants(helper).filter((p) => cmdline(p) === 'sleep 600');
  let mine = ownSleep();
  for (let i = 0; i < 200 && mine.length === 0; i++) {
    await sleep(25);
    mine = ownSleep();
  }
  assert.is(mine.length, 1, 'the container runs its sleep');
  run.child.kill('SIGKILL');
  await run.done;
  for (let i = 0; i < 100 && alive(helper); i++) await sleep(20);
  assert.ok(!alive(helper), 'the sandbox helper died with stratum');
  // The PID namespace dies with its init: the kernel kills the rest, not always at once.
  for (let i = 0; i < 100 && mine.some(alive); i++) await sleep(20);
  assert.equal(mine.filter(alive), [], 'no orphan sleep 600');
  const after = await state('k9');
  assert.is(after.state.status, 'exited');
  ok(await s('rm', 'k9'), 'rm');
});

t.test('stop sends the image\'s STOPSIGNAL, whichever it is (httpd stops on SIGWINCH)', async () => {
  rig.write({ 'winch/Dockerfile': 'FROM busybox:latest\nSTOPSIGNAL SIGWINCH\n' });
  ok(await s('build', '-t', 'winch:1', rig.path('winch')), 'build');
  ok(await s('run', '-d', '--name', 'wn', 'winch:1', 'sh', '-c', 'trap "echo got-winch; exit 0" WINCH; echo ready; while :; do sleep 0.1; done'), 'run -d');
  let logs = '';
  for (let i = 0; i < 200 && !logs.includes('ready'); i++) {
    await sleep(50);
    logs = ok(await s('logs', 'wn'), 'logs').stdout;
  }
  ok(await s('stop', '-t', '20', 'wn'), 'stop');
  assert.match(ok(await s('logs', 'wn'), 'logs').stdout, /got-winch/);
  assert.is((await state('wn')).state.exitCode, 0, 'ended by its own trap, not by SIGTERM or SIGKILL');
  ok(await s('rm', 'wn'), 'rm');
});

t.test('PID 1 reaps orphans; a SIGTERM to a foreground stratum reaches the container', async () => {
  const r = ok(await s('run', '--rm', 'busybox', 'sh', '-c', '(sleep 0.2 &); (sleep 0.2 &); sleep 1; ps -o pid,stat,comm'), 'run');
  assert.not.match(r.stdout, /\sZ\s/, `a zombie is left:\n${r.stdout}`);
  assert.match(r.stdout, /1 S\s+stratum-init/);
  const run = startCli(['run', '--cache-dir', rig.path('store'), '--name', 'term', 'busybox', 'sleep', '600'], { cwd: rig.dir });
  let c = await state('term').catch(() => undefined);
  for (let i = 0; i < 200 && c?.state.status !== 'running'; i++) {
    await sleep(50);
    c = await state('term').catch(() => undefined);
  }
  run.child.kill('SIGTERM');
  const done = await run.done;
  assert.is(done.code, 143);
  assert.is((await state('term')).state.exitCode, 143);
  ok(await s('rm', 'term'), 'rm');
});

t.test('a SIGTERM that lands while the container is still starting is not lost (PID 1 holds it)', async () => {
  // The record reads "running" as soon as the helper is spawned, while it forks into its
  // namespaces and PID 1 mounts the root. A stop then used to be lost three ways: PID 1 drops
  // what it has no handler for (the run waited out the grace: 137), the command's fork took
  // it in the instant before its own dispositions, and the helper died of SIGPIPE writing to a
  // child the signal had ended. Polled from the record file itself, so that the signal lands
  // as early as a user's could, at every few milliseconds of the start.
  for (const [i, delayMs] of Array.from({ length: 16 }, (_, k) => 2 * k).entries()) {
    const name = `early${i}`;
    const run = startCli(['run', '--cache-dir', rig.path('store'), '--name', name, '--stop-timeout', '20', 'busybox', 'sleep', '600'], { cwd: rig.dir });
    const root = rig.path('store', 'containers-v1');
    for (let n = 0; n < 20_000 && !runningRecord(root, name); n++) await sleep(1);
    await sleep(delayMs);
    run.child.kill('SIGTERM');
    const done = await run.done;
    assert.is(done.code, 143, `signal after ${delayMs} ms: ${done.stderr}`);
    ok(await s('rm', name), 'rm');
  }
});

/** Whether the record of container `name` under `root` reads running, with its helper. */
function runningRecord(root: string, name: string): boolean {
  let ids: string[] = [];
  try {
    ids = readdirSync(root);
  } catch {
    return false;
  }
  for (const id of ids) {
    try {
      const rec = JSON.parse(readFileSync(`${root}/${id}/state.json`, 'utf8')) as { name: string; state: { status: string; helperPid?: number } };
      if (rec.name === name && rec.state.status === 'running' && rec.state.helperPid) return true;
    } catch {
      // not written yet, or being renamed
    }
  }
  return false;
}

t.test('prune keeps the layers of a container whose image tag was removed', async () => {
  ok(await s('run', '--name', 'base', 'busybox', 'sh', '-c', 'echo only-here > /mine'), 'run');
  ok(await s('commit', 'base', 'tmp:gone'), 'commit');
  ok(await s('rm', 'base'), 'rm');
  ok(await s('run', '--name', 'pinned', 'tmp:gone', 'sh', '-c', 'echo more > /more'), 'run from it');
  ok(await s('rmi', 'tmp:gone'), 'rmi');
  // du -v says who stands on what: the container's image layers are used by it.
  const du = JSON.parse(ok(await s('du', '-v', '--format', 'json'), 'du -v').stdout) as { verbose: { containers: { name: string; image: string }[]; layers: { images: string[] }[] } };
  assert.ok(du.verbose.containers.some((c) => c.name === 'pinned' && c.image === 'tmp:gone'), 'du -v lists the container');
  assert.ok(du.verbose.layers.some((l) => l.images.includes('container pinned')), 'and its layers as used by it');
  // --all removes every build key, and still never a layer a container stands on.
  ok(await s('prune', '--all', '--grace', '0s'), 'prune');
  ok(await s('commit', 'pinned', 'tmp:back'), 'commit after prune');
  assert.is(ok(await s('run', '--rm', 'tmp:back', 'cat', '/mine', '/more'), 'run').stdout, 'only-here\nmore\n');
  ok(await s('rm', 'pinned'), 'rm');
});

t.test('refuses -p with --network=none, and -it without a terminal, with a clear message', async () => {
  const r = await s('run', '--network=none', '-p', '8080:8080', 'busybox', 'true');
  assert.is(r.code, 2);
  assert.match(r.stderr, /--network=none/);
  const it = await s('run', '--name', 'no-tty', '-it', 'busybox', 'sh');
  assert.is(it.code, 2);
  assert.match(it.stderr, /the input device is not a TTY/);
  assert.not.match(ok(await s('ps', '-a'), 'ps').stdout, /no-tty/, 'no container record is left');
  const none = ok(await s('run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'ls /sys/class/net 2>/dev/null || ip link 2>/dev/null || echo ok'), 'network none');
  assert.ok(none.stdout.length > 0);
  // Docker's hostname: the short container id without the host network, the host's with it.
  const named = ok(await s('run', '-d', '--name', 'hn', '--network=none', 'busybox', 'sleep', '60'), 'run -d none');
  const id = named.stdout.trim();
  assert.is(ok(await s('exec', 'hn', 'hostname'), 'exec hostname').stdout.trim(), id.slice(0, 12));
  ok(await s('rm', '-f', 'hn'), 'rm -f');
  assert.is(ok(await s('run', '--rm', 'busybox', 'hostname'), 'host hostname').stdout.trim(), hostname());
});

t.test('env, workdir, user and entrypoint overrides', async () => {
  rig.write({ 'envfile': 'A=1\n# c\nB=two\n' });
  const r = ok(await s('run', '--rm', '-e', 'C=3', '--env-file', 'envfile', '-w', '/tmp/wd', '-u', '1000', '--entrypoint', 'sh', 'busybox', '-c', 'echo $A $B $C; pwd; id -u'), 'run');
  assert.is(r.stdout, '1 two 3\n/tmp/wd\n1000\n');
});

t.test('-t without a terminal: the command runs on a pty of the container, as session leader', async () => {
  const r = await s('run', '--rm', '-t', 'busybox', 'sh', '-c', 'tty; stty size; ls /dev/console; ps -o pid,sid,comm | grep -w sh; exit 3');
  assert.is(r.code, 3, r.stderr);
  const lines = r.stdout.split('\r\n');
  assert.is(lines[0], '/dev/pts/0');
  assert.is(lines[1], '24 80');
  assert.is(lines[2], '/dev/console');
  assert.match(lines[3]!, /^\s*2\s+2\s+sh$/, `sh is PID 2 and leads session 2:\n${r.stdout}`);
});

t.test('-d -t: a detached container with a tty; its output is in the logs', async () => {
  ok(await s('run', '-d', '-t', '--name', 'dt', 'busybox', 'sh', '-c', 'tty; echo done'), 'run -d -t');
  let logs = '';
  for (let i = 0; i < 200 && !logs.includes('done'); i++) {
    await sleep(50);
    logs = ok(await s('logs', 'dt'), 'logs').stdout;
  }
  assert.is(logs, '/dev/pts/0\r\ndone\r\n');
  ok(await s('rm', 'dt'), 'rm');
});

t.test('exec -w, -u with names from the container\'s /etc/passwd and /etc/group, -e, -t, and 128 + n for a signal', async () => {
  ok(await s('run', '-d', '--name', 'ex', 'busybox', 'sleep', '611'), 'run -d');
  try {
    // A command ended by a signal exits 128 + its number, as Docker's exec reports it (any
    // signal other than KILL used to come out as 143).
    assert.is((await s('exec', 'ex', 'sh', '-c', 'kill -SEGV $$')).code, 139);
    assert.is((await s('exec', 'ex', 'sh', '-c', 'kill -PIPE $$')).code, 141);
    assert.is((await s('exec', 'ex', 'sh', '-c', 'exit 7')).code, 7);
    // Users the container made after it started: resolved in its writable layer, not the image.
    ok(await s('exec', 'ex', 'sh', '-c', 'echo app:x:2000:3000::/srv/app:/bin/sh >> /etc/passwd; echo web:x:3000: >> /etc/group; echo extra:x:4000:app >> /etc/group; mkdir -p /srv/app'), 'add user');
    const r = ok(await s('exec', '-u', 'app', '-w', '/srv', '-e', 'X=1', 'ex', 'sh', '-c', 'id; pwd; echo $X $HOME'), 'exec -u app');
    assert.is(r.stdout, 'uid=2000(app) gid=3000(web) groups=3000(web),4000(extra)\n/srv\n1 /srv/app\n');
    assert.is(ok(await s('exec', '-u', 'user:web', 'ex', 'id', '-u'), 'user:group').stdout, '1000\n');
    assert.is(ok(await s('exec', '-u', 'user:web', 'ex', 'id', '-g'), 'user:group').stdout, '3000\n');
    assert.is(ok(await s('exec', '-u', '1234:5', 'ex', 'id'), 'numeric').stdout, 'uid=1234 gid=5 groups=5\n');
    const bad = await s('exec', '-u', 'nosuch', 'ex', 'true');
    assert.is(bad.code, 2);
    assert.match(bad.stderr, /no user "nosuch" in container ex's \/etc\/passwd/);
    const badGroup = await s('exec', '-u', 'app:nogroup', 'ex', 'true');
    assert.is(badGroup.code, 2);
    assert.match(badGroup.stderr, /no group "nogroup"/);
    // Docker: 126 when the command cannot be started in the given working directory.
    const badDir = await s('exec', '-w', '/no/such/dir', 'ex', 'true');
    assert.is(badDir.code, 126);
    assert.match(badDir.stderr, /working directory \/no\/such\/dir: No such file or directory/);
    const t1 = await s('exec', '-t', 'ex', 'sh', '-c', 'tty; exit 4');
    assert.is(t1.code, 4);
    assert.match(t1.stdout, /^\/dev\/pts\/\d+\r\n$/);
    assert.is(ok(await s('exec', 'ex', 'cat', '/proc/1/cmdline'), 'still running').stdout.split('\0')[0], 'stratum-init');
  } finally {
    await s('rm', '-f', 'ex');
  }
});

t.test('start keeps the writable layer and volumes; -a attaches; restart runs it again', async () => {
  const r = await s('run', '--name', 'again', '-v', 'againvol:/v', 'busybox', 'sh', '-c', 'echo run >> /count; echo v >> /v/count; wc -l < /count; exit 2');
  assert.is(r.code, 2);
  assert.is(r.stdout, '1\n');
  ok(await s('start', 'again'), 'start');
  for (let i = 0; i < 200 && (await state('again')).state.exitCode !== 2; i++) await sleep(50);
  for (let i = 0; i < 200 && (await state('again')).state.status !== 'exited'; i++) await sleep(50);
  const a = await s('start', '-a', 'again');
  assert.is(a.code, 2);
  assert.is(a.stdout, '3\n');
  assert.is(ok(await s('logs', 'again'), 'logs').stdout, '1\n2\n3\n');
  assert.is(ok(await s('run', '--rm', '-v', 'againvol:/v', 'busybox', 'wc', '-l', '/v/count'), 'volume').stdout.trim(), '3 /v/count');
  ok(await s('rm', 'again'), 'rm');
  ok(await s('volume', 'rm', 'againvol'), 'volume rm');
  ok(await s('run', '-d', '--name', 'rs', 'busybox', 'sh', '-c', 'echo up; exec sleep 612'), 'run -d');
  const before = await state('rs');
  ok(await s('restart', '-t', '1', 'rs'), 'restart');
  const after = await state('rs');
  assert.is(after.state.status, 'running');
  assert.is.not(after.state.helperPid, before.state.helperPid);
  assert.ok(!alive(before.state.helperPid!), 'the old container is gone');
  ok(await s('rm', '-f', 'rs'), 'rm');
});

t.test('--restart=on-failure:2 restarts a failing container twice; stop ends --restart=always', async () => {
  ok(await s('run', '-d', '--name', 'rp', '--restart=on-failure:2', 'busybox', 'sh', '-c', 'echo x; exit 1'), 'run');
  let c = await state('rp');
  for (let i = 0; i < 400 && !(c.state.status === 'exited' && (c.state as { restartCount?: number }).restartCount === 2); i++) {
    await sleep(50);
    c = await state('rp');
  }
  assert.is(c.state.status, 'exited');
  assert.is(c.state.exitCode, 1);
  assert.is(ok(await s('logs', 'rp'), 'logs').stdout, 'x\nx\nx\n');
  ok(await s('run', '-d', '--name', 'ra', '--restart=always', 'busybox', 'sh', '-c', 'echo y; exec sleep 613'), 'run always');
  ok(await s('stop', '-t', '1', 'ra'), 'stop');
  assert.is((await state('ra')).state.status, 'exited');
  assert.is(ok(await s('logs', 'ra'), 'logs').stdout, 'y\n');
  const bad = await s('run', '--restart=sometimes', 'busybox', 'true');
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /not a restart policy/);
  const conflict = await s('run', '--rm', '--restart=always', 'busybox', 'true');
  assert.is(conflict.code, 2);
  ok(await s('rm', 'rp', 'ra'), 'rm');
});

t.test('--name is claimed atomically: of concurrent runs with one name exactly one wins', async () => {
  for (let round = 0; round < 4; round++) {
    const n = 4;
    const runs = await Promise.all(Array.from({ length: n }, (_, i) => s('run', '-d', '--name', 'same', 'busybox', 'sh', '-c', `echo ${i}; exec sleep 614`)));
    const winners = runs.filter((r) => r.code === 0);
    assert.is(winners.length, 1, runs.map((r) => `${r.code}: ${r.stderr}`).join('\n'));
    for (const r of runs.filter((x) => x.code !== 0)) {
      assert.is(r.code, 2, r.stderr);
      assert.match(r.stderr, /Conflict\. The container name "\/same" is already in use by container "[0-9a-f]{64}"/);
      assert.match(r.stderr, /hint: stratum rm (-f )?same/);
    }
    const all = ok(await s('ps', '-a', '--format', 'json'), 'ps').stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { name: string; id: string });
    assert.is(all.filter((c) => c.name === 'same').length, 1);
    assert.is(all.find((c) => c.name === 'same')!.id, winners[0]!.stdout.trim());
    const dirs = (await import('node:fs')).readdirSync(rig.path('store/containers-v1')).filter((d) => /^[0-9a-f]{64}$/.test(d));
    assert.is(dirs.length, all.length, 'no half-created container directory');
    ok(await s('rm', '-f', 'same'), 'rm');
  }
});

t.test('watch --run serves each new image from a new container; volumes kept; a failed build leaves it running', async () => {
  const port = await freePort();
  rig.write({
    'proj/Dockerfile': `FROM busybox\nCOPY www/ /www/\nVOLUME /state\nCMD ["sh", "-c", "echo serving $(cat /www/index.html); exec httpd -f -p 127.0.0.1:${port} -h /www"]\n`,
    'proj/www/index.html': 'one\n',
  });
  const w = new WatchSession(['--cache-dir', rig.path('store'), '--debounce', '30', '--run', '--name', 'wr', '-v', 'wrdata:/data', '-p', `${port}:${port}`, rig.path('proj')]);
  try {
    const running = (n: number) => (ev: unknown[]) => (ev as { type: string; state?: string }[]).filter((e) => e.type === 'container-state' && e.state === 'running').length >= n;
    const get = async (want: string) => {
      let body = '';
      for (let i = 0; i < 100 && body !== want; i++) {
        try {
          body = await (await fetch(`http://127.0.0.1:${port}/index.html`)).text();
        } catch {
          // not listening yet
        }
        if (body !== want) await sleep(50);
      }
      return body;
    };
    await w.waitFor('first container', running(1), 30_000);
    assert.is(await get('one\n'), 'one\n');
    // Its output reaches the UI as container-log events (the header's last lines).
    await w.waitFor('its first line', (ev) => (ev as { type: string; line?: string }[]).some((e) => e.type === 'container-log' && e.line === 'serving one'), 30_000);
    ok(await s('exec', 'wr', 'sh', '-c', 'echo named > /data/f; echo anon > /state/g'), 'exec write');
    rig.write({ 'proj/www/index.html': 'two\n' });
    await w.waitFor('second container', running(2), 30_000);
    assert.is(await get('two\n'), 'two\n');
    assert.is(ok(await s('exec', 'wr', 'cat', '/data/f', '/state/g'), 'exec read').stdout, 'named\nanon\n');
    const before = (await state('wr')).id;
    rig.write({ 'proj/Dockerfile': readFileSync(rig.path('proj/Dockerfile'), 'utf8') + 'RUN false\n' });
    await w.waitFor('failed build', (ev) => ev.filter((e) => e.type === 'build-done').some((e) => e.type === 'build-done' && !e.ok), 30_000);
    assert.is(await get('two\n'), 'two\n');
    assert.is((await state('wr')).id, before);
    assert.is((await state('wr')).state.status, 'running');
  } finally {
    await w.stop();
  }
  assert.is((await state('wr')).state.status, 'exited');
  ok(await s('rm', '-v', 'wr'), 'rm');
});

t.run();

// As root (CI), the same file again as the unprivileged user `stratumt` (rootless: subuid
// mapping, sub-id owned upperdirs and volumes).
rerunAsTestUser('containers rootless', 'container', fileURLToPath(import.meta.url), 'STRATUM_CONTAINERS_CHILD');
