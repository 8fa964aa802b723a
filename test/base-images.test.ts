/**
 * The base images of test/util/base-images.ts are real OCI layouts: skopeo inspects them,
 * umoci unpacks them (as root, keeping owners and device nodes), the rootfs is what the
 * scripts promise (busybox applets, users, /tmp 1777; Debian's apt lists, hardlinks, /dev),
 * and `stratum load` imports them as one-layer images.
 *
 * The images come from the machine-wide cache, so only the first run on a machine pays for
 * the Debian build (mmdebstrap from the configured mirror, as root).
 */
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { suite, Rig } from './util/rig.js';
import { runCli, type CliResult } from './util/cli.js';
import { tool } from './util/oci-kit.js';
import { busyboxBase, debianBase } from './util/base-images.js';

const execFileP = promisify(execFile);
const isRoot = process.getuid?.() === 0;

const t = suite('base images', { timeoutMs: 120_000 });
/** A cold Debian build took 116-156 s here at load average 14; the file limit is 10 min. */
const DEBIAN_BUILD_MS = 540_000;
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig('stratum-base-images-');
});
t.afterEach(() => rig.cleanup());

const cli = (args: string[]) => runCli([...args.slice(0, 1), '--cache-dir', rig.path('store'), ...args.slice(1)]);

async function ok(r: Promise<CliResult>): Promise<CliResult> {
  const res = await r;
  assert.is(res.code, 0, `${res.stdout}\n${res.stderr}`);
  return res;
}

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const v = await fn();
  console.log(`[base-images.test] ${label}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return v;
}

/** skopeo's view of DIR:TAG, and umoci's unpacked rootfs (as root: real owners and devices). */
async function inspectAndUnpack(dir: string, tag: string): Promise<{ layers: string[]; rootfs: string }> {
  const info = JSON.parse((await tool('skopeo', ['inspect', `oci:${dir}:${tag}`])).stdout) as { Layers: string[]; Os: string };
  assert.is(info.Os, 'linux');
  const bundle = rig.path('bundle');
  await tool('umoci', ['unpack', ...(isRoot ? [] : ['--rootless']), '--image', `${dir}:${tag}`, bundle]);
  return { layers: info.Layers, rootfs: `${bundle}/rootfs` };
}

/** `stratum load` of the layout, then `images` and `history` as a user would read them. */
async function loadIntoStratum(dir: string, name: string): Promise<void> {
  const loaded = await ok(cli(['load', dir, '-t', name]));
  assert.is(loaded.stdout, `Loaded image: ${name}\n`);
  const [repo, tag] = name.split(':') as [string, string];
  const images = await ok(cli(['images']));
  assert.ok(images.stdout.split('\n').some((l) => l.split(/\s+/)[0] === repo && l.split(/\s+/)[1] === tag), images.stdout);
  const history = await ok(cli(['history', name, '--format', 'json']));
  const rows = history.stdout.trim().split('\n').map((l) => JSON.parse(l) as { EmptyLayer: boolean });
  assert.is(rows.filter((h) => !h.EmptyLayer).length, 1, history.stdout);
}

t.test('the busybox layout is a one-layer image with every applet, root and user 1000, and /tmp 1777', async () => {
  const dir = await timed('busyboxBase()', busyboxBase);
  assert.is(await busyboxBase(), dir, 'a second call returns the cached layout');
  const { layers, rootfs } = await inspectAndUnpack(dir, 'latest');
  assert.is(layers.length, 1);

  assert.ok(statSync(`${rootfs}/bin/busybox`).mode & 0o111);
  for (const applet of ['sh', 'ls', 'cat', 'echo', 'touch', 'rm', 'mkdir', 'chown', 'id', 'wget', 'httpd', 'sleep', 'env', 'sed', 'grep']) {
    assert.is(readlinkSync(`${rootfs}/bin/${applet}`), 'busybox', applet);
  }
  assert.is(statSync(`${rootfs}/tmp`).mode & 0o7777, 0o1777);
  assert.match(readFileSync(`${rootfs}/etc/passwd`, 'utf8'), /^user:x:1000:1000:/m);
  assert.match(readFileSync(`${rootfs}/etc/group`, 'utf8'), /^user:x:1000:$/m);
  if (isRoot) {
    assert.is(statSync(`${rootfs}/home/user`).uid, 1000);
    const { stdout } = await execFileP('chroot', [rootfs, '/bin/sh', '-c', 'echo hi from $(id -un) > /tmp/x && cat /tmp/x']);
    assert.is(stdout, 'hi from root\n');
  }

  await loadIntoStratum(dir, 'busybox:latest');
});

t.test('parallel test processes build an image once, and a lock left by a dead builder is taken over', async () => {
  const helper = new URL('./util/base-images.js', import.meta.url).href;
  const env = { ...process.env, STRATUM_TEST_IMAGES: rig.path('images') };
  const child = () => execFileP(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(helper)}); console.log(await m.busyboxBase());`], { env });
  const runs = await Promise.all([child(), child(), child()]);
  const dirs = new Set(runs.map((r) => r.stdout.trim()));
  assert.is(dirs.size, 1);
  assert.is(runs.map((r) => r.stderr).join('').match(/\[base-images\] built /g)?.length, 1, runs.map((r) => r.stderr).join(''));
  const [dir] = [...dirs] as [string];
  assert.equal(readdirSync(rig.path('images')), [dir.slice(rig.path('images').length + 1)], 'no lock or temp dir is left');

  // A builder killed mid-build leaves its lock and temp dir; the next caller takes the lock over.
  rmSync(dir, { recursive: true });
  const dead = await execFileP(process.execPath, ['-e', 'console.log(process.pid)']);
  writeFileSync(`${dir}.lock`, dead.stdout.trim());
  const again = await child();
  assert.is(again.stdout.trim(), dir);
  assert.match(again.stderr, /\[base-images\] built /);
  assert.not.ok(existsSync(`${dir}.lock`));
});

t.test('the Debian layout is bookworm minbase with apt lists, hardlinks and /dev nodes as mmdebstrap made them', async () => {
  assert.ok(isRoot, 'make-debian-base.sh runs mmdebstrap as root (CI runs as root)');
  const dir = await timed('debianBase()', debianBase);
  const { layers, rootfs } = await timed('skopeo inspect + umoci unpack', () => inspectAndUnpack(dir, 'bookworm'));
  assert.is(layers.length, 1);

  assert.match(readFileSync(`${rootfs}/etc/os-release`, 'utf8'), /VERSION_CODENAME=bookworm/);
  const lists = readdirSync(`${rootfs}/var/lib/apt/lists`);
  assert.ok(lists.some((f) => /_dists_bookworm_main_binary-[a-z0-9]+_Packages$/.test(f)), lists.join('\n'));
  assert.ok(lstatSync(`${rootfs}/dev/null`).isCharacterDevice());
  // perl5.36.0 is a hardlink of perl in Debian's package; the layer keeps it one inode.
  assert.is(statSync(`${rootfs}/usr/bin/perl5.36.0`).ino, statSync(`${rootfs}/usr/bin/perl`).ino);
  // Services install without starting: a daemon would outlive the RUN step.
  assert.is(readFileSync(`${rootfs}/usr/sbin/policy-rc.d`, 'utf8'), '#!/bin/sh\nexit 101\n');
  assert.not.ok(existsSync(`${rootfs}/etc/resolv.conf`) || existsSync(`${rootfs}/etc/hostname`), 'no host files leak into the image');
  // The lists are enough to resolve a package offline (a simulation downloads nothing).
  const { stdout } = await execFileP('chroot', [rootfs, 'apt-get', 'install', '-s', '-y', 'nginx'], { maxBuffer: 16 << 20 });
  assert.match(stdout, /^Inst nginx /m);
}, DEBIAN_BUILD_MS);

t.test('stratum load imports the Debian layout, /dev nodes included, as a one-layer image', async () => {
  assert.ok(isRoot, 'make-debian-base.sh runs mmdebstrap as root (CI runs as root)');
  const dir = await debianBase();
  await timed('stratum load', () => loadIntoStratum(dir, 'debian:bookworm'));
}, DEBIAN_BUILD_MS);

t.run();
