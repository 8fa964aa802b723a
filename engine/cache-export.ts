/**
 * `--cache-to type=registry,ref=…[,mode=min|max]` / `type=local,dest=DIR`: this build's step
 * cache as one OCI manifest (format: engine/cache-import.ts), for another machine's
 * `--cache-from`. `mode=max` exports the steps of every stage that ran, `min` only those of
 * the final image's chain (the target and the stages it is FROM).
 *
 * The layer blobs are written by the image exporter (engine/oci/export.ts: reproducible
 * tar+gzip, and an imported base layer's original bytes), one synthetic image per stage into
 * a staging layout; their descriptors and diffIDs are read back from what it wrote.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { LayerDigest } from '../cache/digest.js';
import type { Session } from './build-session.js';
import type { CacheSpec } from './build.js';
import { CACHE_CONFIG, CACHE_SCHEMA, CACHE_TAG, type CacheConfig, type CacheEntry, type CacheBase, type CacheLayerRef, type CacheMountRef } from './cache-import.js';
import { normalizeRef } from './load.js';
import { isOciLayoutRef } from './oci/layout-read.js';

import { pulledRecord } from './registry-base-record.js';
import { isEmptyDir, packDir } from './cache-mount-archive.js';
import { CACHE_MOUNTS } from './cache-mounts.js';
import type { Mount } from './dockerfile/types.js';
import type { PlannedStage } from './plan.js';
import { chainOf } from './union-view.js';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const REF_NAME = 'org.opencontainers.image.ref.name';
/** A cache mount's blob: a tar+gzip of its tree (engine/cache-mount-archive.ts). Typed as an
 *  OCI layer so that every registry stores it; the cache's config says what it is. */
const MOUNT_MEDIA = 'application/vnd.oci.image.layer.v1.tar+gzip';

/** The pull record of a FROM reference that came from a registry (engine/registry-base-record.ts). */
function fromRegistry(s: Session, ref: string) {
  return isOciLayoutRef(ref) ? undefined : pulledRecord(s.store, normalizeRef(ref));
}

/** The stages a `mode` exports. */
function stagesFor(s: Session, mode: 'min' | 'max'): PlannedStage[] {
  if (mode === 'max') return s.plan.stages.filter((st) => s.runs.has(st.index));
  const out: PlannedStage[] = [];
  let st: PlannedStage | undefined = s.plan.stages[s.plan.target];
  while (st) {
    out.push(st);
    st = st.base.kind === 'stage' ? s.plan.stages[st.base.stage] : undefined;
  }
  return out;
}

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

function writeBlob(dir: string, bytes: Buffer): { digest: string; size: number } {
  const digest = sha256(bytes);
  const path = join(dir, 'blobs', 'sha256', digest.slice(7));
  if (!existsSync(path)) writeFileSync(path, bytes);
  return { digest, size: bytes.length };
}

/** The store's name of a cache mount's directory (as engine/run-mounts.ts acquires it). */
export const cacheMountId = (m: Pick<Mount, 'id' | 'target'>): string => m.id ?? posix.resolve('/', m.target);

/**
 * Pack the cache mounts that the exported stages' RUNs name: every non-empty slot of each
 * (a `private` mount has one per concurrent user; `shared` and `locked` users share slot 0),
 * most recently used first, so that the first is the freshest copy (what machine B's slot 0
 * gets: engine/cache-import.ts seedMount). Each slot is read under its own lock, without
 * counting as a use, and only when no other live build names it in its lease: a slot some
 * build is writing is left out, with a warning.
 */
async function packMounts(s: Session, stages: PlannedStage[], exportDir: string): Promise<CacheMountRef[]> {
  const out: CacheMountRef[] = [];
  const seen = new Set<string>();
  for (const st of stages) {
    for (const step of st.steps) {
      if (step.instr.kind !== 'RUN') continue;
      for (const m of step.instr.mounts) {
        if (m.type !== 'cache') continue;
        const id = cacheMountId(m);
        if (seen.has(id)) continue;
        seen.add(id);
        for (const { slot, lastUse } of s.store.dirSlots(CACHE_MOUNTS, id)) {
          const owned = s.store.acquireDir(CACHE_MOUNTS, id, { slot, keepLastUse: true });
          if (!owned) {
            s.bus.emit({ type: 'warning', message: `cache mount ${id} (slot ${slot}) is locked by another build: not exported` });
            continue;
          }
          try {
            if (s.store.dirLeased(owned.path, s.lease?.path)) {
              s.bus.emit({ type: 'warning', message: `cache mount ${id} (slot ${slot}) is in use by another build: not exported` });
              continue;
            }
            if (isEmptyDir(owned.path)) continue;
            const tmp = join(exportDir, 'blobs', 'sha256', `.mount-${randomBytes(6).toString('hex')}`);
            const packed = await packDir(owned.path, tmp);
            renameSync(tmp, join(exportDir, 'blobs', 'sha256', packed.digest.slice(7)));
            out.push({ id, target: m.target, platform: s.platform, created: Date.now(), used: Math.round(lastUse), slot, files: packed.files, blob: { mediaType: MOUNT_MEDIA, digest: packed.digest, size: packed.size } });
          } finally {
            owned.release();
          }
        }
      }
    }
  }
  return out;
}

/** Write the cache manifest of this build, with its blobs, into `dir/export` (an OCI layout). */
async function stageLayout(s: Session, spec: CacheSpec, dir: string): Promise<{ entries: number; layers: number; mounts: number }> {
  const { mode } = spec;
  const { store } = s;
  const { exportImage } = await import('./oci/export.js');
  const entries: CacheEntry[] = [];
  const bases: CacheBase[] = [];
  const wanted = new Map<number, LayerDigest[]>();
  for (const st of stagesFor(s, mode)) {
    const layers: LayerDigest[] = [];
    // A base no registry serves travels with the cache, layers and all (B could not get it
    // otherwise). A registry base travels as its manifest, config and the stratum layer of
    // each of its blobs, not its bytes: B resolves the reference with the registry, and when
    // it names the same manifest, keys its steps on these layers and downloads their blobs
    // from that registry only when it needs them (engine/cache-registry-base.ts).
    const base = st.base.kind === 'image' ? s.baseImages?.get(st.index) : undefined;
    if (st.base.kind === 'image' && base) {
      const ref = st.base.ref;
      const { name: _name, ...image } = base;
      const pulled = fromRegistry(s, ref);
      if (!pulled) {
        if (!bases.some((b) => b.ref === ref)) bases.push({ ref, image });
        layers.push(...base.layers);
      } else if (pulled.manifest && pulled.config && !bases.some((b) => b.ref === ref)) {
        const registry = { manifestDigest: pulled.manifestDigest, ...(pulled.platform ? { platform: pulled.platform } : {}), manifest: pulled.manifest, config: pulled.config, layers: base.layers.map((l) => ({ layer: l, size: store.getLayer(l)?.size ?? 0 })) };
        bases.push({ ref, image, registry });
      }
    }
    for (const step of st.steps) {
      const key = s.keys[step.index - 1];
      const seen = s.stepRecords?.get(step);
      const rec = key ? store.getKey(key) : undefined;
      if (!key || !rec || !seen) continue;
      entries.push({
        key,
        layer: rec.layer,
        chain: rec.chain,
        durationMs: rec.durationMs,
        created: rec.created,
        record: seen.record,
        stage: step.stageName,
        stageIndex: step.stageIndex,
        ...(seen.files ? { files: seen.files } : {}),
      });
      if (rec.layer) layers.push(rec.layer);
    }
    if (layers.length) wanted.set(st.index, layers);
  }
  const exportDir = join(dir, 'export');
  const refs = new Map<string, CacheLayerRef>();
  for (const [index, layers] of wanted) {
    const name = `stratum-cache:stage${index}`;
    await exportImage(store, { name, layers, chain: chainOf(layers), config: {}, history: [], created: new Date(0).toISOString() }, { type: 'oci', dest: exportDir, tar: false });
    const idx = JSON.parse(readFileSync(join(exportDir, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    const m = idx.manifests.find((d) => d.annotations?.[REF_NAME] === `stage${index}`) ?? idx.manifests[idx.manifests.length - 1]!;
    const blob = (d: string) => readFileSync(join(exportDir, 'blobs', 'sha256', d.slice(7)));
    const manifest = JSON.parse(blob(m.digest).toString('utf8')) as { config: { digest: string }; layers: { mediaType: string; digest: string; size: number }[] };
    const config = JSON.parse(blob(manifest.config.digest).toString('utf8')) as { rootfs: { diff_ids: string[] } };
    layers.forEach((l, i) => {
      const d = manifest.layers[i]!;
      refs.set(l, { layer: l, size: store.getLayer(l)?.size ?? 0, blob: { mediaType: d.mediaType, digest: d.digest, size: d.size }, diffId: config.rootfs.diff_ids[i]! });
    });
  }
  mkdirSync(join(exportDir, 'blobs', 'sha256'), { recursive: true });
  const mounts = spec.cacheMounts ? await packMounts(s, stagesFor(s, mode), exportDir) : [];
  const cacheConfig: CacheConfig = { schema: CACHE_SCHEMA, entries, layers: [...refs.values()], ...(mounts.length ? { mounts } : {}), ...(bases.length ? { bases } : {}) };
  const cfg = writeBlob(exportDir, Buffer.from(JSON.stringify(cacheConfig)));
  const manifestBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      config: { mediaType: CACHE_CONFIG, ...cfg },
      layers: [...new Map([...[...refs.values()].map((r) => r.blob), ...mounts.map((m) => m.blob)].map((b) => [b.digest, b])).values()],
    }),
  );
  const man = writeBlob(exportDir, manifestBytes);
  writeFileSync(join(exportDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(exportDir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: MANIFEST, ...man, annotations: { [REF_NAME]: CACHE_TAG } }] }));
  return { entries: entries.length, layers: refs.size, mounts: mounts.length };
}

/** Copy the staged layout into `dest` (blobs first, index.json last and atomically). */
function publishLocal(staged: string, dest: string): void {
  mkdirSync(join(dest, 'blobs', 'sha256'), { recursive: true });
  const index = JSON.parse(readFileSync(join(staged, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(readFileSync(join(staged, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as { config: { digest: string }; layers: { digest: string }[] };
  for (const d of [index.manifests[0]!.digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
    const to = join(dest, 'blobs', 'sha256', d.slice(7));
    if (!existsSync(to)) copyFileSync(join(staged, 'blobs', 'sha256', d.slice(7)), to);
  }
  writeFileSync(join(dest, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const tmp = join(dest, `.index.json.${randomBytes(6).toString('hex')}`);
  writeFileSync(tmp, readFileSync(join(staged, 'index.json')));
  renameSync(tmp, join(dest, 'index.json'));
}

/** Export this build's cache to `spec`; returns what went in. */
export async function exportCache(s: Session, spec: CacheSpec): Promise<{ entries: number; layers: number; mounts: number; digest?: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'stratum-cache-out-'));
  try {
    const counts = await stageLayout(s, spec, dir);
    const staged = join(dir, 'export');
    if (spec.type === 'local') {
      publishLocal(staged, spec.dir);
      return counts;
    }
    const { createRegistryClient } = await import('./registry/client.js');
    const { parseReference } = await import('./registry/reference.js');
    const { pushLayout } = await import('./registry/layout-transfer.js');
    const insecure = s.opts.insecureRegistries;
    const pushed = await pushLayout(createRegistryClient(insecure?.length ? { insecure } : {}), staged, parseReference(spec.ref), { tag: CACHE_TAG });
    return { ...counts, digest: pushed.manifestDigest };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
