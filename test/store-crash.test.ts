import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { suite, Rig } from './util/rig.js';
import { createStore } from '../cache/store.js';
import { CRASH_IMAGE, CRASH_KEYS } from './store-crash-child.js';

const CHILD = fileURLToPath(new URL('./store-crash-child.js', import.meta.url));

function runChild(root: string, src: string, fault?: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    if (fault) env.STRATUM_STORE_FAULT = fault;
    else delete env.STRATUM_STORE_FAULT;
    const child = spawn(process.execPath, [CHILD, root, src], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, out }));
  });
}

/** Everything the store holds must be true: each key present resolves to a complete layer
 *  whose blobs read back verified, the image (if any) names complete layers, and verify
 *  finds no bad entry (renames never expose a torn file). */
function checkStore(root: string, k: number): void {
  const store = createStore(root);
  const at = `after a crash at call ${k}`;
  for (const key of CRASH_KEYS) {
    const file = join(root, 'keys-v2', key.slice(0, 2), `${key}.json`);
    const onDisk = existsSync(file);
    const rec = store.getKey(key);
    assert.is(rec !== undefined, onDisk, `${at}: key ${key} on disk must resolve`);
    if (!rec?.layer) continue;
    const layer = store.getLayer(rec.layer);
    assert.ok(layer, `${at}: layer of ${key}`);
    for (const e of layer!.entries) {
      if (e.type === 'file') assert.ok(store.readBlob(e.digest, e.size), `${at}: blob ${e.path}`);
    }
  }
  const image = existsSync(join(root, 'images-v2')) && readdirSync(join(root, 'images-v2')).length ? store.getImage(CRASH_IMAGE) : undefined;
  for (const l of image?.layers ?? []) assert.ok(store.getLayer(l), `${at}: image layer ${l}`);
  const report = store.verify();
  assert.equal([report.badBlobs, report.badLayers, report.badKeys], [0, 0, 0], `${at}: verify found bad entries`);
  const tmp = join(root, 'tmp');
  assert.equal(existsSync(tmp) ? readdirSync(tmp) : [], [], `${at}: verify removes the dead writer's temp files`);
}

const t = suite('store crash');

t.test(
  'leaves no entry that lies after a crash at any instant',
  async () => {
    const rig = new Rig('stratum-crash-');
    try {
      const big = Buffer.alloc(200_000); // > 64 KiB: streamed, several writes to crash within
      for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
      rig.write({ 'src/small.txt': 'hello', 'src/big.bin': big });
      const src = rig.path('src');

      const clean = await runChild(rig.path('clean'), src);
      assert.is(clean.code, 0, clean.out);
      const calls = (JSON.parse(clean.out) as { calls: number }).calls;
      assert.ok(calls > 20, `the scenario makes ${calls} filesystem calls`);
      checkStore(rig.path('clean'), 0);

      // Two children at a time (CI has two cores).
      const ks = Array.from({ length: calls }, (_, i) => i + 1);
      const worker = async () => {
        for (let k = ks.shift(); k !== undefined; k = ks.shift()) {
          const root = rig.path(`k${k}`);
          const crashed = await runChild(root, src, `kill@${k}`);
          assert.is(crashed.signal, 'SIGKILL', `call ${k} of ${calls} should crash: ${crashed.out}`);
          checkStore(root, k);
          // And the next build completes on top of whatever the crash left.
          const again = await runChild(root, src);
          assert.is(again.code, 0, `rerun after a crash at ${k}: ${again.out}`);
          checkStore(root, k);
          const store = createStore(root);
          for (const key of CRASH_KEYS) assert.ok(store.getKey(key), `rerun after a crash at ${k}: key ${key}`);
          assert.ok(store.getImage(CRASH_IMAGE));
        }
      };
      await Promise.all([worker(), worker()]);
    } finally {
      rig.cleanup();
    }
  },
  300_000,
);

t.run();
