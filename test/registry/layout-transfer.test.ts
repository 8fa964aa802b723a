/**
 * Registry ⇄ OCI layout: push a hand-made layout, read it back with skopeo, pull it into a
 * fresh layout and load that into a stratum store with the existing importer. Also the
 * refusals: a tampered layout blob is never pushed.
 */
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite, Rig } from '../util/rig.js';
import { makeTar, writeLayout } from '../util/oci-kit.js';
import { createStore } from '../../cache/store.js';
import { loadArchive } from '../../engine/oci/import.js';
import { createRegistryClient } from '../../engine/registry/client.js';
import { pullToLayout, pushLayout } from '../../engine/registry/layout-transfer.js';
import { parseReference } from '../../engine/registry/reference.js';
import { RegistryError } from '../../engine/registry/registry-error.js';
import { skopeo, startRegistry, type RunningRegistry } from './kit.js';

const t = suite('registry layout transfer', { timeoutMs: 120_000 });
let reg: RunningRegistry;
let rig: Rig;
const client = createRegistryClient({ auth: false });

t.before(async () => {
  reg = await startRegistry();
  rig = new Rig('stratum-registry-layout-');
});
t.after(async () => {
  await reg?.stop();
  rig?.cleanup();
});

t.test('pushes a layout, pulls it into another and loads that into the store', async () => {
  const layers = [await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/motd', body: 'from the registry\n' }]), await makeTar([{ name: 'app.txt', body: 'layer two' }])];
  const src = rig.path('src');
  const { manifestDigest, layerDigests } = writeLayout(src, { layers, tag: '1' });
  const ref = parseReference(`${reg.host}/layouts/app:1`);
  const pushed = await pushLayout(client, src, ref);
  assert.is(pushed.manifestDigest, manifestDigest);
  assert.equal(pushed.blobs.map((b) => b.how), ['uploaded', 'uploaded', 'uploaded']);
  const inspect = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/layouts/app:1`])) as { Digest: string; Layers: string[] };
  assert.is(inspect.Digest, manifestDigest);
  assert.equal(inspect.Layers, layerDigests);
  // Pushing again sends nothing; pushing to another repository mounts.
  assert.equal((await pushLayout(client, src, ref)).blobs.map((b) => b.how), ['existed', 'existed', 'existed']);
  assert.equal((await pushLayout(client, src, parseReference(`${reg.host}/layouts/copy:1`), { mountFrom: 'layouts/app' })).blobs.map((b) => b.how), ['mounted', 'mounted', 'mounted']);

  const dest = rig.path('pulled');
  const pulled = await pullToLayout(client, ref, dest);
  assert.is(pulled.manifestDigest, manifestDigest);
  const index = JSON.parse(readFileSync(join(dest, 'index.json'), 'utf8')) as { manifests: { annotations: Record<string, string> }[] };
  assert.is(index.manifests[0]!.annotations['io.containerd.image.name'], `${reg.host}/layouts/app:1`);
  // A second pull re-hashes what is there and fetches nothing new.
  await pullToLayout(client, ref, dest);
  const store = createStore(rig.path('store'));
  const [image] = await loadArchive(store, dest, { name: 'pulled:1' });
  assert.is(image!.layers.length, 2);
  assert.ok(store.getImage('pulled:1'));
});

t.test('refuses to push a layout blob that does not match its descriptor', async () => {
  const src = rig.path('tampered');
  const { layerDigests } = writeLayout(src, { layers: [await makeTar([{ name: 'x', body: 'original' }])], tag: '1' });
  writeFileSync(join(src, 'blobs', 'sha256', layerDigests[0]!.slice(7)), 'swapped');
  try {
    await pushLayout(client, src, parseReference(`${reg.host}/layouts/tampered:1`));
    assert.unreachable();
  } catch (err) {
    assert.instance(err, RegistryError);
    assert.is((err as RegistryError).reason, 'DIGEST_MISMATCH');
    assert.match((err as Error).message, new RegExp(`${reg.host}/layouts/tampered: blob ${layerDigests[0]}`));
  }
  try {
    await client.getManifest(parseReference(`${reg.host}/layouts/tampered:1`));
    assert.unreachable();
  } catch (err) {
    assert.is((err as RegistryError).reason, 'NOT_FOUND', 'no manifest was pushed');
  }
});

t.run();
