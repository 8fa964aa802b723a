/**
 * Sandbox test kit: a temp store (readable by the unprivileged test user) holding a busybox
 * base layer, and the capability check every sandbox test starts from.
 */
import { chmodSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStore } from '../../cache/store.js';
import type { LayerEntry, Layer } from '../../cache/layer-types.js';
import type { LocalStore } from '../../cache/store-types.js';
import { detectSandbox, type SandboxCaps } from '../../engine/sandbox/detect.js';
import { drainSandboxRemovals } from '../../engine/sandbox/executor.js';
import { removeInNs } from '../../engine/sandbox/ns.js';

export const BUSYBOX = '/bin/busybox';
export const APPLETS = ['sh', 'ls', 'cat', 'touch', 'rm', 'mkdir', 'chown', 'echo', 'sleep', 'id', 'stat', 'mv', 'ln', 'nc', 'wget', 'true', 'false', 'mknod', 'mkfifo', 'chmod', 'readlink', 'test', 'grep', 'ps', 'mount', 'hostname', 'env', 'pwd', 'wc', 'kill', 'setfattr', 'ip', 'ifconfig'];

export interface Kit {
  dir: string;
  store: LocalStore;
  caps: SandboxCaps;
  base: Layer;
  cleanup(): Promise<void>;
}

/** A temp store with the busybox layer; throws the detect error when the sandbox cannot run. */
export async function makeKit(): Promise<Kit> {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'stratum-sbx-')));
  chmodSync(dir, 0o755);
  const store = createStore(join(dir, 'store'));
  const det = await detectSandbox({ storeRoot: dir });
  if (!det.ok) throw new Error(`${det.error.message}\nhint: ${det.error.hint}`);
  const bb = store.writeBlobFromFile(BUSYBOX);
  const entries: LayerEntry[] = [
    { path: 'bin', type: 'dir', mode: 0o755 },
    { path: 'bin/busybox', type: 'file', mode: 0o755, size: bb.size, digest: bb.digest },
    ...APPLETS.map((a): LayerEntry => ({ path: `bin/${a}`, type: 'symlink', mode: 0o777, target: 'busybox' })),
    { path: 'etc', type: 'dir', mode: 0o755 },
    { path: 'etc/motd', type: 'file', ...store.writeBlob(Buffer.from('hello\n')), mode: 0o644 },
    { path: 'tmp', type: 'dir', mode: 0o1777 },
    { path: 'tmp/seed', type: 'file', ...store.writeBlob(Buffer.from('seeded\n')), mode: 0o644 },
    { path: 'data', type: 'dir', mode: 0o755 },
    { path: 'data/keep', type: 'file', ...store.writeBlob(Buffer.from('keep\n')), mode: 0o644 },
    { path: 'data/gone', type: 'file', ...store.writeBlob(Buffer.from('gone\n')), mode: 0o644 },
    { path: 'data/sub', type: 'dir', mode: 0o755 },
    { path: 'data/sub/old', type: 'file', ...store.writeBlob(Buffer.from('old\n')), mode: 0o644 },
  ];
  const base = store.putLayer(entries);
  return {
    dir,
    store,
    caps: det.caps,
    base,
    async cleanup() {
      // Sub-id owned trees (rootless) can only be removed inside the namespace.
      await drainSandboxRemovals();
      await removeInNs(det.caps.tools, det.caps.mapping, [dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
