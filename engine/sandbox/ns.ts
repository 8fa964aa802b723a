/**
 * Entering the sandbox's namespaces: the record format the Perl helper reads on fd 3, the id
 * mapping it applies, and one spawn function every sandbox module uses.
 *
 * Id mapping (chosen once by detect.ts, the same for every operation, so that a tree written
 * by one namespace is read back with the same owners by the next):
 * - real root: `0 0 65536` written directly — a user namespace even for root, so that a RUN's
 *   capabilities (mknod, module loading, sysctls, raw devices) stay confined to it; host ids
 *   equal namespace ids, and the same 65536 ids exist as in a rootless build, so a
 *   Dockerfile that works for one works for the other;
 * - rootless with a subordinate range: `0 → the user`, `1..min(n,65535) → the range`, through
 *   newuidmap/newgidmap (what `unshare --map-auto --map-root-user` does);
 * - rootless without one: uid 0 only (`setgroups` denied); a chown to any other id fails
 *   with EINVAL, and the run's hint says how to add a range.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { helperScript, type HelperNeeds } from './ns-helper.pl.js';

/** The helper's syscall table is keyed by the kernel's machine name. */
const PERL_ARCH = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch;

export type IdMapping =
  | { kind: 'root' }
  | { kind: 'subid'; uid: number; gid: number; uidStart: number; uidCount: number; gidStart: number; gidCount: number }
  | { kind: 'single'; uid: number; gid: number };

/** Ids 0..size-1 exist inside every sandbox namespace. */
export function mappedIds(m: IdMapping): number {
  switch (m.kind) {
    case 'root':
      return 65536;
    case 'subid':
      return 1 + Math.min(m.uidCount, m.gidCount, 65535);
    case 'single':
      return 1;
  }
}

/** One record: a tag and its fields (no NUL inside a field). */
export type Rec = [tag: string, ...fields: (string | number)[]];

export function encodeRecs(recs: readonly Rec[]): Buffer {
  let s = '';
  for (const [tag, ...fields] of recs) {
    s += `${tag}\0${fields.length}\0`;
    for (const f of fields) {
      const v = String(f);
      if (v.includes('\0')) throw new Error(`sandbox: a NUL byte in ${tag} field ${JSON.stringify(v)}`);
      s += `${v}\0`;
    }
  }
  return Buffer.from(s, 'utf8');
}

/** Records as the helper prints them; a path's bytes are kept as latin1 would corrupt them, so
 *  decode as UTF-8 (paths in layers are UTF-8 strings). */
export function decodeRecs(buf: Buffer): string[][] {
  const f = buf.toString('utf8').split('\0');
  if (f.length && f[f.length - 1] === '') f.pop();
  const out: string[][] = [];
  let i = 0;
  while (i < f.length) {
    const tag = f[i++]!;
    const n = Number(f[i++]);
    out.push([tag, ...f.slice(i, i + n)]);
    i += n;
  }
  return out;
}

export function mapRecs(m: IdMapping): Rec[] {
  switch (m.kind) {
    case 'root':
      return [
        ['uidmap', 'write', '0 0 65536'],
        ['gidmap', 'write', '0 0 65536'],
      ];
    case 'subid': {
      const n = mappedIds(m) - 1;
      return [
        ['uidmap', 'helper', 0, m.uid, 1, 1, m.uidStart, n],
        ['gidmap', 'helper', 0, m.gid, 1, 1, m.gidStart, n],
      ];
    }
    case 'single':
      return [['uidmap', 'write', `0 ${m.uid} 1`], ['gidmap', 'write', `0 ${m.gid} 1`], ['setgroups', 'deny']];
  }
}

export interface NsTools {
  perl: string;
}

type HelperStdio = { stdin?: 'pipe' | 'ignore' | 'inherit'; stdout: 'pipe' | 'ignore' | 'inherit' | number; stderr: 'pipe' | 'ignore' | 'inherit' | number; ctl?: boolean };

/**
 * Spawn the helper for one operation. The spec goes in on fd 3; the child is the leader of
 * its own process group (cancellation signals the group) and dies with this process
 * (PR_SET_PDEATHSIG=SIGKILL in the helper and in each of its children; no setpriv exec).
 */
export function spawnNs(tools: NsTools, mapping: IdMapping, recs: readonly Rec[], stdio: HelperStdio): ChildProcess {
  const op = recs.find((r) => r[0] === 'op')?.[1];
  const init = recs.some((r) => r[0] === 'init' || r[0] === 'tty');
  const child = spawnHelper(tools, stdio, { ...(op !== undefined ? { op: String(op) } : {}), init });
  sendSpec(child, mapping, recs);
  return child;
}

/** Helpers this process has started (each a perl and, once its spec comes, a namespace):
 *  what the tests and the bench count per RUN. */
export const helperSpawns = { count: 0 };

/** The helper, started and waiting for its spec on fd 3 (perl's start-up and the script's
 *  compile happen meanwhile: standby.ts). Nothing runs until sendSpec(). `needs`: which
 *  operation it will get (ns-helper.pl.ts helperScript; by default a RUN's). */
export function spawnHelper(tools: NsTools, stdio: HelperStdio, needs: HelperNeeds = {}): ChildProcess {
  helperSpawns.count++;
  // fd 4 (`ctl`): a pipe for a tty's window size, one "ROWS COLS\n" line per change.
  const child = spawn(tools.perl, ['-e', helperScript(needs), PERL_ARCH, String(process.pid)], {
    stdio: [stdio.stdin ?? 'ignore', stdio.stdout, stdio.stderr, 'pipe', ...(stdio.ctl ? ['pipe'] : [])] as StdioOptions,
    detached: true,
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
  });
  const spec = child.stdio[3] as NodeJS.WritableStream | null;
  spec?.on('error', () => {
    // The helper died before reading its spec; its exit status tells why.
  });
  return child;
}

/** Give a helper from spawnHelper() its operation (the records and the id mapping). */
export function sendSpec(child: ChildProcess, mapping: IdMapping, recs: readonly Rec[]): void {
  (child.stdio[3] as NodeJS.WritableStream | null)?.end(encodeRecs([...recs, ...mapRecs(mapping)]));
}

/** Run a helper operation to completion: its stdout, or an Error holding its stderr. */
export function runNs(tools: NsTools, mapping: IdMapping, recs: readonly Rec[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawnNs(tools, mapping, recs, { stdout: 'pipe', stderr: 'pipe' });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(Buffer.concat(out));
      else {
        const msg = Buffer.concat(err).toString('utf8').trim() || `sandbox helper exited with ${signal ?? code}`;
        reject(new Error(msg.replace(/^stratum-sandbox: /gm, '')));
      }
    });
  });
}

/** Remove trees whose owners may be sub-ids (only the namespace can). */
export function removeInNs(tools: NsTools, mapping: IdMapping, paths: string[]): Promise<void> {
  if (!paths.length) return Promise.resolve();
  return runNs(tools, mapping, [['op', 'remove'], ['paths', ...paths]]).then(() => undefined);
}
