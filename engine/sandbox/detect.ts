/**
 * Can this machine run the sandbox? One check, done once per process, that either returns a
 * capability record or an error saying what is missing, how to fix it, and that
 * `--executor=host` opts out. Never a silent fallback: a build that silently ran on the host
 * would touch the machine the Dockerfile was promised it could not.
 */
import { accessSync, constants, readFileSync, statfsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { removeInNs, type IdMapping, type NsTools } from './ns.js';

export interface SandboxCaps {
  tools: NsTools;
  mapping: IdMapping;
  /** Kernel release, e.g. "6.18.0". */
  kernel: string;
}

export interface SandboxUnavailable {
  code: 'ESANDBOX';
  message: string;
  hint: string;
}

export type DetectResult = { ok: true; caps: SandboxCaps } | { ok: false; error: SandboxUnavailable };

const OPT_OUT = 'or build with --executor=host to run RUN on this machine without isolation';
const OVERLAYFS_MAGIC = 0x794c7630;

export interface DetectOptions {
  /** The store root: uppers and extracted layers live there, so it must not be overlayfs. */
  storeRoot: string;
  env?: NodeJS.ProcessEnv;
  /** /proc/sys reader, for tests. */
  sysctl?: (name: string) => string | undefined;
  uid?: number;
  gid?: number;
  /** Skip the live probe (tests of the static checks). */
  probe?: boolean;
}

function fail(message: string, hint: string): DetectResult {
  return { ok: false, error: { code: 'ESANDBOX', message, hint: `${hint}; ${OPT_OUT}` } };
}

/** The first executable `name` on PATH. */
export function which(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

function readSysctl(name: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/${name.replace(/\./g, '/')}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The first range of `user` (name or numeric id) in /etc/subuid or /etc/subgid. */
export function subRange(file: string, user: string, id: number): { start: number; count: number } | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [who, start, count] = line.trim().split(':');
    if ((who === user || who === String(id)) && Number(count) > 0) return { start: Number(start), count: Number(count) };
  }
  return undefined;
}

/** Check tools, kernel settings, id ranges and the store's filesystem, then probe once. */
export async function detectSandbox(opts: DetectOptions): Promise<DetectResult> {
  const env = opts.env ?? process.env;
  const sysctl = opts.sysctl ?? readSysctl;
  const uid = opts.uid ?? process.getuid!();
  const gid = opts.gid ?? process.getgid!();
  const kernel = (readSysctl('kernel.osrelease') ?? '0.0').trim();

  const perl = which('perl', env);
  if (!perl) return fail('the sandbox needs perl (Debian: perl-base), not found on PATH', 'install it');

  const [maj = 0, min = 0] = kernel.split('.').map((x) => parseInt(x, 10));
  if (maj < 5 || (maj === 5 && min < 12)) return fail(`the sandbox needs Linux 5.12 or later (rootless overlayfs, mount_setattr); this is ${kernel}`, 'upgrade the kernel');

  if (sysctl('user.max_user_namespaces') === '0') {
    return fail('user namespaces are disabled (user.max_user_namespaces = 0)', 'enable them: sudo sysctl -w user.max_user_namespaces=15000');
  }
  if (uid !== 0) {
    if (sysctl('kernel.unprivileged_userns_clone') === '0') {
      return fail('unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)', 'enable them: sudo sysctl -w kernel.unprivileged_userns_clone=1');
    }
    if (sysctl('kernel.apparmor_restrict_unprivileged_userns') === '1') {
      return fail(
        'AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1)',
        'allow them: sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give node an AppArmor profile with "userns,"',
      );
    }
  }

  try {
    const fs = statfsSync(opts.storeRoot);
    if (Number(fs.type) === OVERLAYFS_MAGIC) {
      return fail(
        `the store ${opts.storeRoot} is on overlayfs (stratum inside a container?), where the kernel refuses an overlay upperdir`,
        'point STRATUM_CACHE_DIR at a directory on a real filesystem (a volume mount)',
      );
    }
  } catch {
    // The store does not exist yet: it will be created where the caller said.
  }

  let mapping: IdMapping;
  if (uid === 0) mapping = { kind: 'root' };
  else {
    let name = String(uid);
    try {
      name = userInfo().username;
    } catch {
      // no passwd entry: match by id only
    }
    const su = subRange('/etc/subuid', name, uid);
    const sg = subRange('/etc/subgid', name, uid);
    const helpers = which('newuidmap', env) && which('newgidmap', env);
    if (su && sg && helpers) mapping = { kind: 'subid', uid, gid, uidStart: su.start, uidCount: su.count, gidStart: sg.start, gidCount: sg.count };
    else mapping = { kind: 'single', uid, gid };
  }

  const caps: SandboxCaps = { tools: { perl }, mapping, kernel };
  if (opts.probe !== false) {
    const bad = await probeSandbox(caps);
    if (bad) return { ok: false, error: bad };
  }
  return { ok: true, caps };
}

/**
 * The live probe: create a user namespace with the id mapping and run nothing in it. Why the
 * static checks are not enough (a container's seccomp profile, an LSM, a broken newuidmap) is
 * only known by trying; undefined when it worked.
 */
export async function probeSandbox(caps: SandboxCaps): Promise<SandboxUnavailable | undefined> {
  try {
    await removeInNs(caps.tools, caps.mapping, ['/nonexistent-stratum-probe']);
    return undefined;
  } catch (err) {
    const r = fail(`a user namespace could not be created: ${err instanceof Error ? err.message : String(err)}`, 'check that user namespaces are allowed here (a container needs --security-opt seccomp=unconfined or a userns-enabled runtime)');
    return r.ok ? undefined : r.error;
  }
}

/** Why ids other than 0 fail in this sandbox, for hints; undefined when they are mapped. */
export function mappingNote(m: IdMapping): string | undefined {
  if (m.kind !== 'single') return undefined;
  return `only uid/gid 0 exist in this sandbox: /etc/subuid and /etc/subgid grant no range to uid ${m.uid} (or newuidmap is missing); add one, e.g. "sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $USER"`;
}
