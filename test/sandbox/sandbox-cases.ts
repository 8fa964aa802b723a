/**
 * The sandbox cases, run by sandbox.test.ts as whoever runs the tests and (when that is root)
 * again as the unprivileged user `stratumt`. Real namespaces, real mounts, a busybox layer.
 */
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { alive, suite } from '../util/rig.js';
import { makeKit, type Kit } from './kit.js';
import { createHostToolsExecutor, createSandboxExecutor } from '../../engine/sandbox/executor.js';
import { extractLayer } from '../../engine/sandbox/extract.js';
import { rememberKin } from '../../engine/layer-kin.js';
import { helperSpawns, removeInNs } from '../../engine/sandbox/ns.js';
import type { ExecRequest, PreparedRoot } from '../../engine/executor-types.js';
import type { LayerEntry } from '../../cache/layer-types.js';
import type { LayerDigest } from '../../cache/digest.js';
import { Workspace } from '../../engine/workspace.js';
import { HelperStandby } from '../../engine/sandbox/standby.js';
import { EMPTY_CHAIN } from '../../cache/digest.js';

export function defineCases(label: string) {
  const t = suite<{ kit: Kit }>(`sandbox (${label})`, { timeoutMs: 60_000 });
  let kit: Kit;
  t.before(async () => {
    kit = await makeKit();
  });
  t.after(() => kit?.cleanup());

  const req = (script: string, more: Partial<ExecRequest> = {}): ExecRequest & { lines: string[] } => {
    const lines: string[] = [];
    return { argv: ['/bin/sh', '-c', script], env: { PATH: '/bin' }, cwd: '/', mounts: [], network: 'host', onLine: (s, l) => lines.push(`${s}: ${l}`), lines, ...more };
  };
  async function run(script: string, layers: LayerDigest[] = [kit.base.digest], more: Partial<ExecRequest> = {}) {
    const ex = createSandboxExecutor({ store: kit.store, caps: kit.caps });
    const root = await ex.prepare({ layers, chain: EMPTY_CHAIN });
    const r = req(script, more);
    try {
      const res = await root.exec(r);
      const entries = res.ok ? (await root.collect()).entries : [];
      return { res, entries, lines: r.lines, root };
    } finally {
      await root.release();
    }
  }
  const byPath = (entries: LayerEntry[]) => new Map(entries.map((e) => [e.path, e]));

  t.test('a RUN sees the chain as / and is PID 1 of its own namespace', async () => {
    const { res, lines } = await run('cat /etc/motd; cat /proc/1/cmdline | tr "\\0" " " 2>/dev/null || cat /proc/1/cmdline; echo; ls /proc | grep -c "^[0-9]"');
    assert.ok(res.ok, lines.join('\n'));
    assert.is(lines[0], 'stdout: hello');
    assert.match(lines.join('\n'), /\/bin\/sh -c/);
  });

  t.test('writes land only in the upper; mount points leave no trace in the layer; /tmp is the image\'s', async () => {
    const { res, entries, lines } = await run('cat /tmp/seed && echo hi > /new && echo more > /etc/extra && echo x > /tmp/t && echo nameserver 1.1.1.1 > /etc/resolv.conf');
    assert.ok(res.ok, lines.join('\n'));
    // As in Docker: a file a lower layer put in /tmp is seen, and a RUN's /tmp writes are its layer's.
    assert.is(lines[0], 'stdout: seeded');
    assert.equal(entries.map((e) => e.path).sort(), ['etc', 'etc/extra', 'new', 'tmp', 'tmp/t']);
    const m = byPath(entries);
    const f = m.get('new');
    assert.ok(f?.type === 'file');
    if (f?.type === 'file') assert.is(kit.store.readBlob(f.digest)?.toString(), 'hi\n');
    assert.is(m.get('etc')?.type, 'dir', 'copy-up of /etc is a dir entry');
    const lower = await extractLayer(kit.store, kit.caps, kit.base.digest);
    assert.not.ok(existsSync(join(lower, 'new')), 'the lower layer is untouched');
    assert.not.ok(readFileSync('/etc/resolv.conf', 'utf8').includes('1.1.1.1'), "the host's resolv.conf is untouched");
  });

  t.test('deleting a lower file gives a whiteout; rm -rf d && mkdir d gives an opaque dir; a new dir is a dir', async () => {
    const { res, entries, lines } = await run('rm /data/gone && rm -rf /data/sub && mkdir /data/sub && touch /data/sub/n && mkdir /fresh');
    assert.ok(res.ok, lines.join('\n'));
    const m = byPath(entries);
    assert.equal(m.get('data/gone'), { path: 'data/gone', type: 'whiteout' });
    assert.is(m.get('data/sub')?.type, 'opaque');
    assert.is(m.get('fresh')?.type, 'dir');
    assert.is(m.get('data/keep'), undefined);
  });

  t.test("a RUN's helper reads its own upper: exec and snapshot start one helper, and the layer is the one a snapshot helper reads", async () => {
    const script = 'rm /etc/motd && rm -rf /tmp && mkdir /tmp && echo n > /tmp/n && mkdir -p /a/b && echo x > /a/b/x && ln /a/b/x /a/y && ln -s x /a/s && chmod 700 /a';
    const ex = createSandboxExecutor({ store: kit.store, caps: kit.caps });
    const folded = await ex.prepare({ layers: [kit.base.digest], chain: EMPTY_CHAIN });
    const before = helperSpawns.count;
    let entries: LayerEntry[];
    try {
      const r = req(script, { lastExec: true });
      const res = await folded.exec(r);
      assert.ok(res.ok, r.lines.join('\n'));
      entries = (await folded.collect()).entries;
      assert.is(helperSpawns.count - before, 1, 'the RUN and its snapshot: one helper');
    } finally {
      await folded.release();
    }
    // The same RUN once more, not the last exec: its upper is read by a helper of its own.
    const again = await ex.prepare({ layers: [kit.base.digest], chain: EMPTY_CHAIN });
    try {
      assert.ok((await again.exec(req(script))).ok);
      const n = helperSpawns.count;
      const read = (await again.collect()).entries;
      assert.is(helperSpawns.count - n, 1, 'a snapshot helper reads the upper');
      assert.equal(read, entries);
      const kinds = byPath(entries);
      assert.is(kinds.get('etc/motd')?.type, 'whiteout');
      assert.is(kinds.get('tmp')?.type, 'opaque');
      assert.is(kinds.get('a/y')?.type, 'hardlink');
      assert.is((kinds.get('a') as { mode?: number } | undefined)?.mode, 0o700);
    } finally {
      await again.release();
    }
  });

  t.test('records of an earlier exec are never read for a later one', async () => {
    const ex = createSandboxExecutor({ store: kit.store, caps: kit.caps });
    const root = await ex.prepare({ layers: [kit.base.digest], chain: EMPTY_CHAIN });
    try {
      assert.ok((await root.exec(req('echo a > /a', { lastExec: true }))).ok);
      // Fails after a write: its helper leaves no records, and the first exec's must not stand in.
      assert.not.ok((await root.exec(req('echo b > /b; exit 3', { lastExec: true }))).ok);
      const paths = byPath((await root.collect()).entries);
      assert.ok(paths.has('a') && paths.has('b'), [...paths.keys()].join(' '));
    } finally {
      await root.release();
    }
  });

  t.test('chown 1000:1000 f gives uid/gid 1000 in the entry; modes and special files are kept', async () => {
    const { res, entries, lines } = await run('echo x > /f && chown 1000:1000 /f && mkdir /p && chmod 700 /p && echo s > /p/s && chown -R 1000:1000 /p && chmod 4750 /p/s && ln -s /f /lnk && ln /f /hl && mkfifo /fifo');
    assert.ok(res.ok, lines.join('\n'));
    const m = byPath(entries);
    assert.equal({ ...m.get('f'), digest: undefined }, { path: 'f', type: 'file', mode: 0o644, size: 2, digest: undefined, uid: 1000, gid: 1000 });
    assert.equal(m.get('p'), { path: 'p', type: 'dir', mode: 0o700, uid: 1000, gid: 1000 });
    assert.is((m.get('p/s') as { mode: number }).mode, 0o4750);
    assert.equal(m.get('lnk'), { path: 'lnk', type: 'symlink', mode: 0o777, target: '/f' });
    assert.equal(m.get('hl'), { path: 'hl', type: 'hardlink', target: 'f' });
    assert.equal(m.get('fifo'), { path: 'fifo', type: 'fifo', mode: 0o644 });
  });

  t.test('an extracted layer keeps owners, modes, links, fifos, whiteouts and opaque dirs', async () => {
    const a = await run('mkdir -p /o/x && echo 1 > /o/x/one && echo v > /v && chown 1000:1001 /v && chmod 640 /v && ln /v /v2 && mkfifo /ff');
    assert.ok(a.res.ok, a.lines.join('\n'));
    const top = kit.store.putLayer(a.entries);
    const b = await run('rm -rf /o && mkdir /o && rm /data/keep', [kit.base.digest, top.digest]);
    assert.ok(b.res.ok, b.lines.join('\n'));
    const top2 = kit.store.putLayer(b.entries);
    const c = await run('stat -c "%n %u:%g %a %F %h" /v /v2 /ff; ls -A /o; ls /data', [kit.base.digest, top.digest, top2.digest]);
    assert.ok(c.res.ok, c.lines.join('\n'));
    const out = c.lines.map((l) => l.replace(/^stdout: /, ''));
    assert.is(out[0], '/v 1000:1001 640 regular file 2');
    assert.is(out[1], '/v2 1000:1001 640 regular file 2');
    assert.is(out[2], '/ff 0:0 644 fifo 1');
    assert.is(out.slice(3).join(' '), 'gone sub', 'the opaque /o is empty and data/keep is whited out');
  });

  t.test('a new version of a layer is extracted by linking the files it shares with the earlier one', async () => {
    const f = (path: string, text: string, mode = 0o644): LayerEntry => ({ path, type: 'file', mode, ...kit.store.writeBlob(Buffer.from(text)) });
    const dir: LayerEntry = { path: 'k', type: 'dir', mode: 0o755 };
    const k1 = kit.store.putLayer([dir, f('k/same', 'same\n'), f('k/changed', 'old\n'), f('k/mode', 'm\n')]);
    const k2 = kit.store.putLayer([dir, f('k/same', 'same\n'), f('k/changed', 'new\n'), f('k/mode', 'm\n', 0o600), f('k/added', 'a\n')]);
    const d1 = await extractLayer(kit.store, kit.caps, k1.digest);
    rememberKin(k2.digest, k1.digest);
    const d2 = await extractLayer(kit.store, kit.caps, k2.digest);
    const ino = (d: string, p: string) => statSync(join(d, p)).ino;
    assert.is(ino(d2, 'k/same'), ino(d1, 'k/same'), 'the unchanged file is a link to the earlier tree');
    assert.is.not(ino(d2, 'k/changed'), ino(d1, 'k/changed'));
    assert.is.not(ino(d2, 'k/mode'), ino(d1, 'k/mode'), 'another mode is another file');
    assert.is(statSync(join(d2, 'k/mode')).mode & 0o7777, 0o600);
    assert.is(statSync(join(d1, 'k/mode')).mode & 0o7777, 0o644, 'the earlier tree is untouched');
    assert.is(readFileSync(join(d1, 'k/changed'), 'utf8'), 'old\n');
    const r = await run('cat /k/same /k/changed /k/added', [kit.base.digest, k2.digest]);
    assert.ok(r.res.ok, r.lines.join('\n'));
    assert.equal(r.lines, ['stdout: same', 'stdout: new', 'stdout: a']);
  });

  t.test('a damaged or missing extraction is rebuilt before use', async () => {
    const layer = kit.store.putLayer([{ path: 'only', type: 'file', mode: 0o600, uid: 1000, gid: 1000, ...kit.store.writeBlob(Buffer.from('x')) }]);
    const dir = await extractLayer(kit.store, kit.caps, layer.digest);
    assert.ok(existsSync(join(dir, 'only')));
    await removeInNs(kit.caps.tools, kit.caps.mapping, [dir]);
    writeFileSync(`${dir}.ok`, 'garbage');
    const again = await extractLayer(kit.store, kit.caps, layer.digest);
    assert.is(again, dir);
    assert.ok(existsSync(join(dir, 'only')));
    assert.match(readFileSync(`${dir}.ok`, 'utf8'), new RegExp(layer.digest));
  });

  t.test('runs as the requested user with its groups, in the requested cwd (created)', async () => {
    const { res, lines } = await run('id -u; id -g; id -G; pwd; touch /tmp/ok', undefined, { user: { uid: 1000, gid: 1000, groups: [1000, 27] }, cwd: '/home/app' });
    assert.ok(res.ok, lines.join('\n'));
    assert.equal(lines, ['stdout: 1000', 'stdout: 1000', 'stdout: 1000 27', 'stdout: /home/app']);
  });

  t.test("network 'none' cannot reach a loopback server of the test; 'host' can", async () => {
    const server = createServer((_, res) => res.end('pong\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const host = await run(`wget -q -O - http://127.0.0.1:${port}/`, undefined, { network: 'host' });
      assert.ok(host.res.ok, host.lines.join('\n'));
      assert.ok(host.lines.includes('stdout: pong'));
      const none = await run(`wget -q -T 2 -O - http://127.0.0.1:${port}/; echo rc=$?; ip -o link 2>/dev/null | wc -l`, undefined, { network: 'none' });
      assert.ok(none.res.ok, none.lines.join('\n'));
      assert.not.ok(none.lines.includes('stdout: pong'));
      assert.ok(none.lines.some((l) => /rc=[1-9]/.test(l)), none.lines.join('\n'));
    } finally {
      server.close();
    }
  });

  t.test('binds and tmpfs mounts are placed and are not part of the layer', async () => {
    const host = join(kit.dir, `bind-${process.pid}`);
    mkdirSync(host);
    chmodSync(host, 0o777);
    writeFileSync(join(host, 'in'), 'from host\n');
    const { res, entries, lines } = await run('cat /mnt/b/in && echo out > /mnt/b/out && echo t > /cache/t && ! echo no > /ro/x', undefined, {
      mounts: [
        { type: 'bind', source: host, target: '/mnt/b', readonly: false },
        { type: 'bind', source: host, target: '/ro', readonly: true },
        { type: 'tmpfs', target: '/cache' },
      ],
    });
    assert.ok(res.ok, lines.join('\n'));
    assert.equal(entries, []);
    assert.is(readFileSync(join(host, 'out'), 'utf8'), 'out\n');
  });

  t.test('cancellation kills the whole tree: SIGTERM, then SIGKILL after the grace period', async () => {
    const ac = new AbortController();
    const ex = createSandboxExecutor({ store: kit.store, caps: kit.caps });
    const root = await ex.prepare({ layers: [kit.base.digest], chain: EMPTY_CHAIN });
    try {
      const r = req('trap "" TERM; echo started; sleep 30 & sleep 30', { signal: ac.signal, killGraceMs: 300 });
      const p = root.exec({ ...r, onLine: (s, l) => (r.onLine(s, l), l === 'started' && ac.abort()) });
      const t0 = Date.now();
      const res = await p;
      assert.is(res.ok, false);
      assert.ok(!res.ok && res.cancelled);
      assert.ok(Date.now() - t0 < 5000);
    } finally {
      await root.release();
    }
  });

  t.test('kill -9 of the runner process leaves no process behind', async () => {
    const marker = `sleep ${1000 + (process.pid % 1000)}`;
    const script = join(kit.dir, 'runner.mjs');
    const exe = new URL('../../engine/sandbox/executor.js', import.meta.url).pathname;
    const store = new URL('../../cache/store.js', import.meta.url).pathname;
    writeFileSync(
      script,
      `import { createSandboxExecutor } from ${JSON.stringify(exe)};
import { createStore } from ${JSON.stringify(store)};
const caps = JSON.parse(process.argv[2]);
const ex = createSandboxExecutor({ store: createStore(${JSON.stringify(kit.store.root)}), caps });
const root = await ex.prepare({ layers: [${JSON.stringify(kit.base.digest)}], chain: '0' });
await root.exec({ argv: ['/bin/sh', '-c', 'echo started; ${marker} & ${marker}'], env: { PATH: '/bin' }, cwd: '/', mounts: [], network: 'host', onLine: (s, l) => console.log(l) });
`,
    );
    const child = spawn(process.execPath, [script, JSON.stringify(kit.caps)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('started') && resolve());
      child.on('exit', (c) => reject(new Error(`runner exited early (${c})`)));
    });
    try {
      const count = () => countProcs(marker);
      for (let i = 0; i < 100 && count() < 2; i++) await new Promise((r) => setTimeout(r, 20));
      assert.is(count(), 2, 'both sleeps run');
      child.kill('SIGKILL');
      let n = count();
      for (let i = 0; i < 100 && n > 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        n = count();
      }
      assert.is(n, 0, 'no sandboxed process survives its runner');
    } finally {
      child.kill('SIGKILL');
    }
  });

  t.test('a helper started ahead (standby) runs the first RUN as a fresh one would; the next RUN spawns its own', async () => {
    const standby = new HelperStandby(kit.caps.tools);
    assert.ok(standby.pid, 'spawned');
    const ex = createSandboxExecutor({ store: kit.store, caps: kit.caps, standby });
    const root = await ex.prepare({ layers: [kit.base.digest], chain: EMPTY_CHAIN });
    try {
      const one = req('cat /etc/motd; echo one > /f');
      const res = await root.exec(one);
      assert.ok(res.ok, one.lines.join('\n'));
      assert.equal(one.lines, ['stdout: hello']);
      assert.is(standby.take(), undefined, 'the RUN took it');
      const two = req('cat /f');
      assert.ok((await root.exec(two)).ok, two.lines.join('\n'));
      assert.equal(two.lines, ['stdout: one']);
    } finally {
      await root.release();
      await ex.close?.();
    }
  });

  t.test('an unused standby is let go (its helper exits, having made nothing); a dead one is replaced by a fresh spawn', async () => {
    const gone = async (pid: number) => {
      for (let i = 0; i < 200 && alive(pid); i++) await new Promise((r) => setTimeout(r, 10));
      return !alive(pid);
    };
    const unused = new HelperStandby(kit.caps.tools);
    unused.discard();
    assert.ok(await gone(unused.pid!), 'the discarded helper exited');
    assert.is(unused.take(), undefined);
    const dead = new HelperStandby(kit.caps.tools);
    process.kill(dead.pid!, 'SIGKILL');
    assert.ok(await gone(dead.pid!), 'killed');
    const ex = createSandboxExecutor({ store: kit.store, caps: kit.caps, standby: dead });
    const root = await ex.prepare({ layers: [kit.base.digest], chain: EMPTY_CHAIN });
    try {
      const r = req('echo fresh');
      const res = await root.exec(r);
      assert.ok(res.ok, r.lines.join('\n'));
      assert.equal(r.lines, ['stdout: fresh']);
    } finally {
      await root.release();
    }
  });

  t.test('host-tools: the host is read-only (EROFS with a hint naming the path), the workspace is writable', async () => {
    const ws = new Workspace(kit.store, `ht-${label}`);
    const ex = createHostToolsExecutor({ store: kit.store, caps: kit.caps, workspace: async () => ws });
    const root: PreparedRoot = await ex.prepare({ layers: [], chain: EMPTY_CHAIN });
    try {
      const probe = `/usr/local/stratum-ht-${process.pid}`;
      const bad = req(`touch ${probe}`);
      const res = await root.exec(bad);
      assert.is(res.ok, false);
      assert.match(bad.lines.join('\n'), /Read-only file system/);
      assert.ok(!res.ok && res.hint?.includes(probe), JSON.stringify(res));
      assert.not.ok(existsSync(probe), 'the host is untouched');
      const good = req('echo built > out.txt && mkdir -p sub && echo t > /tmp/scratch && pwd', { cwd: '/src', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
      const ok = await root.exec(good);
      assert.ok(ok.ok, good.lines.join('\n'));
      assert.is(good.lines[0], `stdout: ${join(ws.root, 'src')}`);
      const { entries } = await root.collect();
      assert.equal(entries.map((e) => e.path).sort(), ['src', 'src/out.txt', 'src/sub']);
    } finally {
      await root.release();
    }
  });

  return t;
}

function countProcs(needle: string): number {
  let n = 0;
  for (const pid of require_readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim() === needle) n++;
    } catch {
      // gone
    }
  }
  return n;
}
import { readdirSync as require_readdir } from 'node:fs';
