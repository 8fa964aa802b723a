/**
 * Build phases measured one by one, in process, through the engine's own functions, each
 * beside its floor (bench/floors.ts) measured on the same tree in the same run, interleaved.
 * Scratch trees live wherever the caller puts them (the suite uses /dev/shm: these phases
 * are CPU-bound there, and the ext4 allocator's slowness after mass deletes stays out).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createStore } from '../cache/store.js';
import { EMPTY_CHAIN, type ChainDigest, type LayerDigest } from '../cache/digest.js';
import { xxh64 } from '../cache/hash.js';
import type { LayerEntry } from '../cache/layer-types.js';
import type { LocalStore } from '../cache/store-types.js';
import { ContextReader, type CtxEntry, type SourceMatch } from '../engine/context.js';
import { copyFromContext } from '../engine/copy.js';
import { loadDockerignore } from '../engine/dockerignore.js';
import { loadDockerfile } from '../engine/load.js';
import { publishLocal } from '../engine/output-local.js';
import type { PlannedStep } from '../engine/plan.js';
import { KEY_SCHEMA, ociPlatform, stepKey, type KeyRecordV2 } from '../engine/step-key.js';
import { chainDigest, mergeLayers, type UnionView } from '../engine/union-view.js';
import { Workspace, type ViewLike } from '../engine/workspace.js';
import { detectSandbox } from '../engine/sandbox/detect.js';
import { upperChanges } from '../engine/sandbox/snapshot.js';
import { copyFloor, hashFloor, walkFloor } from './floors.js';
import { measureHashCost } from './hash-cost.js';
import { interleaveMedians } from './measure.js';
import { timeNode } from './child.js';

export interface PhaseRow {
  phase: string;
  /** The tree it ran on, e.g. `10,005-file context`. */
  on: string;
  ms: number;
  floor?: string;
  floorMs?: number;
  /** ms / floorMs */
  ratio?: number;
  note?: string;
}

type CopyStep = PlannedStep & { instr: Extract<PlannedStep['instr'], { kind: 'COPY' | 'ADD' }> };

const row = (phase: string, on: string, ms: number, floor?: string, floorMs?: number, note?: string): PhaseRow => ({
  phase,
  on,
  ms,
  ...(floor !== undefined && floorMs !== undefined ? { floor, floorMs, ratio: ms / floorMs } : {}),
  ...(note ? { note } : {}),
});

/**
 * The image of a generated context as layers in a store, as a build would leave them before
 * its compile step: WORKDIR, the context COPYs (blobs written from the context) and the
 * dependency step's files (synthesized, same shape as tools/install.sh makes).
 */
export interface Staged {
  store: LocalStore;
  layers: LayerDigest[];
  chain: ChainDigest;
  view: UnionView;
  /** The COPY src/ step, its instruction's workdir and the context reader that saw it. */
  srcStep: CopyStep;
  files: number;
}

export function stageImage(contextDir: string, storeDir: string, depFiles: number): Staged {
  const store = createStore(storeDir);
  const dockerfile = join(contextDir, 'Dockerfile');
  const { plan } = loadDockerfile(dockerfile, 'Dockerfile', { buildArgs: {} });
  const reader = new ContextReader(contextDir, loadDockerignore(contextDir, dockerfile));
  const layerEntries: LayerEntry[][] = [];
  const layers: LayerDigest[] = [];
  let chain = EMPTY_CHAIN;
  let view = mergeLayers([]);
  let srcStep: CopyStep | undefined;
  const push = (entries: LayerEntry[]) => {
    const l = store.putLayer(entries);
    layers.push(l.digest);
    layerEntries.push(l.entries);
    chain = chainDigest(chain, l.digest);
    view = mergeLayers(layerEntries);
  };
  for (const step of plan.steps) {
    if (step.stageName !== 'build') continue;
    const ins = step.instr;
    if (ins.kind === 'WORKDIR') push([{ path: 'app', type: 'dir', mode: 0o755 }]);
    else if ((ins.kind === 'COPY' || ins.kind === 'ADD') && ins.from === undefined) {
      const c = copyFromContext(ins, step.before.workdir, reader, view);
      for (const b of c.blobs) store.writeBlobFromFile(b.abs, { digest: b.digest, size: b.size });
      push(c.entries);
      if (ins.sources.includes('src/')) srcStep = step as CopyStep;
    } else if (ins.kind === 'RUN' && ins.shell?.includes('install.sh')) {
      // The dependency step's layer, as tools/install.sh writes it.
      const entries: LayerEntry[] = [{ path: 'app/node_modules', type: 'dir', mode: 0o755 }];
      for (let i = 0, p = 0; i < depFiles; p++) {
        const name = `pkg-${String(p).padStart(4, '0')}`;
        entries.push({ path: `app/node_modules/${name}`, type: 'dir', mode: 0o755 });
        for (let f = 0; f < 30 && i < depFiles; f++, i++) {
          const w = store.writeBlob(Buffer.from(`module.exports = "${name}@1.${p % 10}.${p % 7} #${f}";\n`));
          entries.push({ path: `app/node_modules/${name}/f${f}.js`, type: 'file', mode: 0o644, size: w.size, digest: w.digest });
        }
      }
      push(entries);
    } else if (ins.kind === 'RUN') break; // the compile step: the phases below play it
  }
  if (!srcStep) throw new Error('bench: the generated Dockerfile has no COPY src/');
  let files = 0;
  for (const [, e] of view.entries()) if (e.type === 'file') files++;
  return { store, layers, chain, view, srcStep, files };
}

/** Files of a view as [blob path, relative path] pairs (for the copy floor). */
function blobPairs(store: LocalStore, view: ViewLike): [string, string][] {
  const out: [string, string][] = [];
  for (const [p, e] of view.entries()) if (e.type === 'file') out.push([store.blobPath(e.digest), p]);
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface PhaseOptions {
  contextDir: string;
  /** Scratch directory (created, emptied by the caller). */
  scratch: string;
  depFiles: number;
  rounds: number;
  /** Label of the tree, e.g. `10k files`. */
  label: string;
  log?: (line: string) => void;
}

/** Every phase on one generated context. */
export async function measurePhases(o: PhaseOptions): Promise<PhaseRow[]> {
  const rows: PhaseRow[] = [];
  const log = o.log ?? (() => {});
  const { contextDir, scratch, rounds, label } = o;
  mkdirSync(scratch, { recursive: true });
  const dockerfile = join(contextDir, 'Dockerfile');
  const ignore = loadDockerignore(contextDir, dockerfile);
  const { plan } = loadDockerfile(dockerfile, 'Dockerfile', { buildArgs: {} });
  const copySteps = plan.steps.filter((s): s is CopyStep => (s.instr.kind === 'COPY' || s.instr.kind === 'ADD') && s.instr.from === undefined);
  const sources = copySteps.flatMap((s) => s.instr.sources);
  const contextFiles = walkFloor(contextDir);

  // --- parse + plan -----------------------------------------------------------------------
  log(`${label}: parse+plan`);
  const [parseMs] = await interleaveMedians(rounds * 10, [{ run: () => loadDockerfile(dockerfile, 'Dockerfile', { buildArgs: {} }) }]);
  rows.push(row('parse + plan', 'the Dockerfile', parseMs!, undefined, undefined, 'no floor: pure code over a few hundred bytes'));

  // --- context fingerprints, cold and warm ----------------------------------------------------
  log(`${label}: fingerprints`);
  const fingerprint = (store?: LocalStore) => {
    const r = new ContextReader(contextDir, ignore, store);
    for (const s of sources) r.select(s);
    return r;
  };
  const [fpCold, walkA, hashA] = await interleaveMedians(rounds, [{ run: () => fingerprint() }, { run: () => walkFloor(contextDir) }, { run: () => hashFloor(contextFiles) }]);
  rows.push(row('fingerprints, cold (no stat cache)', label, fpCold!, 'walk + read+xxh64', walkA! + hashA!));
  const fpStore = createStore(join(scratch, 'fp-store'));
  fingerprint(fpStore).save();
  await sleep(120); // past the racy window, so the next pass leaves no file marked racy
  fingerprint(fpStore).save();
  const check = fingerprint(fpStore);
  if (check.hashed !== 0) log(`${label}: warning: warm fingerprints re-hashed ${check.hashed} files`);
  const [fpWarm, walkB] = await interleaveMedians(rounds, [{ run: () => fingerprint(fpStore) }, { run: () => walkFloor(contextDir) }]);
  rows.push(row('fingerprints, warm stat cache', label, fpWarm!, 'walk (readdir+lstat)', walkB!));

  // --- key computation --------------------------------------------------------------------------
  log(`${label}: keys`);
  const seen = new Map<string, SourceMatch[]>();
  const warmReader = new ContextReader(contextDir, ignore);
  const srcStep = copySteps.find((s) => s.instr.sources.includes('src/'))!;
  for (const s of srcStep.instr.sources) seen.set(s, warmReader.select(s));
  const stub = {
    matches: (s: string) => seen.get(s)!,
    each: (base: string, visit: (e: CtxEntry) => void) => {
      for (const ms of seen.values()) for (const m of ms) if (m.base === base) m.children.forEach(visit);
    },
    walk: (base: string) => [...seen.values()].flat().find((m) => m.base === base)!.children,
  } as unknown as ContextReader;
  const below = mergeLayers([[{ path: 'app', type: 'dir', mode: 0o755 }]]);
  const computeKey = () => {
    const c = copyFromContext(srcStep.instr, srcStep.before.workdir, stub, below);
    const record: KeyRecordV2 = { schema: KEY_SCHEMA, op: 'COPY', platform: ociPlatform(), executor: 'host', parent: EMPTY_CHAIN, instruction: 'src/ ./src/', flags: {}, workdir: '/app', files: { digest: c.files!.digest, count: c.files!.count } };
    return stepKey(record);
  };
  const serialized = copyFromContext(srcStep.instr, srcStep.before.workdir, stub, below).files!.json().toString('utf8');
  const [keyMs, keyFloor] = await interleaveMedians(rounds * 4, [{ run: computeKey }, { run: () => xxh64(serialized) }]);
  rows.push(row('key of COPY src/ (rows, sort, digest)', `${seen.get('src/')![0]!.children.length} entries`, keyMs!, 'xxh64 of the rows as bytes', keyFloor!, 'building, sorting and serializing the rows, sha256 of them; small beside the walk'));

  // --- sha256 identities against xxh64 (bench/hash-cost.ts) -----------------------------------------
  log(`${label}: hash cost`);
  rows.push(...(await measureHashCost(contextDir, rounds, label)));

  // --- blob writes (a cold build's COPY) ----------------------------------------------------------
  log(`${label}: blob writes`);
  const fp = fingerprint();
  const blobs: { abs: string; digest: string; size: number }[] = [];
  for (const s of sources) {
    for (const m of fp.select(s)) for (const e of [m.top, ...m.children]) if (e.type === 'file') blobs.push({ abs: e.abs, digest: e.digest!, size: e.size });
  }
  const copyPairs = blobs.map((b) => [b.abs, relative(contextDir, b.abs)] as const);
  let n = 0;
  const [blobMs, copyMs] = await interleaveMedians(rounds, [
    {
      setup: () => n++,
      run: () => {
        const st = createStore(join(scratch, `blob-store-${n}`));
        for (const b of blobs) st.writeBlobFromFile(b.abs, { digest: b.digest as never, size: b.size });
      },
      teardown: () => rmSync(join(scratch, `blob-store-${n}`), { recursive: true, force: true }),
    },
    { run: () => copyFloor(copyPairs, join(scratch, `copy-${n}`)), teardown: () => rmSync(join(scratch, `copy-${n}`), { recursive: true, force: true }) },
  ]);
  rows.push(row('blob writes of a cold build', `${blobs.length} files`, blobMs!, 'copy (copyFileSync)', copyMs!));

  // --- workspace: materialize, one-file sync, snapshot -------------------------------------------
  log(`${label}: staging the image for the workspace phases`);
  const staged = stageImage(contextDir, join(scratch, 'ws-store'), o.depFiles);
  const wsPairs = blobPairs(staged.store, staged.view);
  let w = 0;
  const [syncMs, syncFloor] = await interleaveMedians(Math.max(3, Math.floor(rounds / 2)), [
    {
      setup: () => w++,
      run: () => new Workspace(staged.store, `sync-${w}`).sync(staged.layers, staged.chain, staged.view),
      teardown: () => rmSync(staged.store.dir('workspaces', `sync-${w}`), { recursive: true, force: true }),
    },
    { run: () => copyFloor(wsPairs, join(scratch, `wscopy-${w}`)), teardown: () => rmSync(join(scratch, `wscopy-${w}`), { recursive: true, force: true }) },
  ]);
  rows.push(row('workspace sync from empty', `${staged.files} files`, syncMs!, 'copy (copyFileSync)', syncFloor!));

  // One file changed in the src layer: the workspace applies one write.
  const ws = new Workspace(staged.store, 'main');
  ws.sync(staged.layers, staged.chain, staged.view);
  const srcLayer = staged.store.getLayer(staged.layers[staged.layers.length - 1]!)!;
  const firstFile = srcLayer.entries.findIndex((e) => e.type === 'file');
  const changed = srcLayer.entries.map((e, i) => {
    if (i !== firstFile || e.type !== 'file') return e;
    const wr = staged.store.writeBlob(Buffer.from(`// changed\n${readFileSync(staged.store.blobPath(e.digest), 'utf8')}`));
    return { ...e, size: wr.size, digest: wr.digest };
  });
  const altLayer = staged.store.putLayer(changed);
  const base = staged.layers.slice(0, -1);
  const baseChain = base.reduce<ChainDigest>((c, d) => chainDigest(c, d), EMPTY_CHAIN);
  const variants = [
    { layers: staged.layers, chain: staged.chain, view: staged.view },
    { layers: [...base, altLayer.digest], chain: chainDigest(baseChain, altLayer.digest), view: mergeLayers([...base.map((d) => staged.store.getLayer(d)!.entries), altLayer.entries]) },
  ];
  let flip = 0;
  const [oneSync] = await interleaveMedians(rounds * 2, [{ run: () => {
    const v = variants[++flip % 2]!;
    ws.sync(v.layers, v.chain, v.view);
  } }]);
  rows.push(row('workspace sync, one file changed', `${staged.files} files`, oneSync!, undefined, undefined, 'merge + diff of the views, one write; no floor'));
  ws.sync(staged.layers, staged.chain, staged.view);
  rows.push(...(await measureSnapshot(ws, staged.view, rounds, `${staged.files}-file workspace`)));

  // --- output publishing --------------------------------------------------------------------------
  log(`${label}: output publishing`);
  let q = 0;
  const [pubMs, pubFloor] = await interleaveMedians(Math.max(3, Math.floor(rounds / 2)), [
    { setup: () => q++, run: () => publishLocal(staged.store, staged.view, staged.chain, join(scratch, `out-${q}`)), teardown: () => rmSync(join(scratch, `out-${q}`), { recursive: true, force: true }) },
    { run: () => copyFloor(wsPairs, join(scratch, `outcopy-${q}`)), teardown: () => rmSync(join(scratch, `outcopy-${q}`), { recursive: true, force: true }) },
  ]);
  rows.push(row('output publish, new directory', `${staged.files} files`, pubMs!, 'copy (copyFileSync)', pubFloor!));
  const out = join(scratch, 'out-kept');
  publishLocal(staged.store, staged.view, staged.chain, out);
  const [rePub, reFloor] = await interleaveMedians(rounds, [{ run: () => publishLocal(staged.store, staged.view, staged.chain, out) }, { run: () => walkFloor(out) }]);
  rows.push(row('output publish, unchanged', `${staged.files} files`, rePub!, 'walk (readdir+lstat)', reFloor!));
  return rows;
}

/**
 * Snapshot after a RUN: the RUN is played by hand (it writes one new file and rewrites one
 * source, untimed); the snapshot walks the whole workspace, hashes and stores what changed,
 * and diffs the views. Floor: a bare readdir+lstat walk of the same tree.
 */
export async function measureSnapshot(ws: Workspace, view: ViewLike, rounds: number, on: string): Promise<PhaseRow[]> {
  let before: ViewLike = view;
  let i = 0;
  const [snapMs, walkMs] = await interleaveMedians(rounds, [
    {
      setup: async () => {
        await ws.beginRun();
        i++;
        mkdirSync(join(ws.root, 'app/dist'), { recursive: true });
        writeFileSync(join(ws.root, 'app/dist/index.txt'), `build ${i}\n`);
        writeFileSync(join(ws.root, 'app/deps.txt'), `# changed ${i}\n`);
      },
      run: () => {
        before = ws.snapshot(before).after;
      },
    },
    { run: () => walkFloor(ws.root) },
  ]);
  const rows = [row('snapshot after a RUN', on, snapMs!, 'walk (readdir+lstat)', walkMs!)];
  // The same RUN as host-tools plays it: its writes in an overlay's upper over the tree; the
  // snapshot reads the upper in the namespace (one helper spawn) and applies it to the tree.
  const caps = await detectSandbox({ storeRoot: ws.store.root });
  if (!caps.ok) return rows;
  const upper = join(ws.dir, '..', 'bench-upper');
  const [overMs, walk2Ms] = await interleaveMedians(rounds, [
    {
      setup: async () => {
        await ws.beginRun();
        i++;
        rmSync(upper, { recursive: true, force: true });
        mkdirSync(join(upper, 'app/dist'), { recursive: true });
        writeFileSync(join(upper, 'app/dist/index.txt'), `build ${i}\n`);
        writeFileSync(join(upper, 'app/deps.txt'), `# changed ${i}\n`);
      },
      run: async () => {
        before = ws.applyUpper(before, upper, await upperChanges(caps.caps, upper, before)).after;
      },
    },
    { run: () => walkFloor(ws.root) },
  ]);
  rmSync(upper, { recursive: true, force: true });
  rows.push(row('snapshot after a host-tools RUN (overlay upper)', on, overMs!, 'walk (readdir+lstat)', walk2Ms!));
  return rows;
}

/** A materialized workspace of a generated context (the view before its compile step). */
export function stageWorkspace(contextDir: string, scratch: string, depFiles: number, log: (l: string) => void): { ws: Workspace; view: ViewLike; files: number } {
  mkdirSync(scratch, { recursive: true });
  log('staging the image');
  const staged = stageImage(contextDir, join(scratch, 'store'), depFiles);
  const ws = new Workspace(staged.store, 'big');
  log(`materializing a ${staged.files}-file workspace`);
  ws.sync(staged.layers, staged.chain, staged.view);
  return { ws, view: staged.view, files: staged.files };
}

/** The snapshot target's measurement: a big generated context's workspace. */
export async function measureBigSnapshot(contextDir: string, scratch: string, depFiles: number, rounds: number, log: (l: string) => void): Promise<PhaseRow[]> {
  const { ws, view, files } = stageWorkspace(contextDir, scratch, depFiles, log);
  log('snapshot');
  return measureSnapshot(ws, view, rounds, `${files}-file workspace`);
}

/** Process start-up: `node -e 0`, the CLI's entry (`--version`), and loading what a build loads. */
export async function measureStartup(cli: string, rounds: number): Promise<{ rows: PhaseRow[]; nodeMs: number }> {
  const buildModule = new URL('../cli/commands/build.js', import.meta.url).href;
  const ms = { node: [] as number[], version: [] as number[], load: [] as number[] };
  const medians = await interleaveMedians(rounds, [
    { run: async () => ms.node.push(await timeNode(['-e', '0'])) },
    { run: async () => ms.version.push(await timeNode([cli, '--version'])) },
    { run: async () => ms.load.push(await timeNode(['--input-type=module', '-e', `await import(${JSON.stringify(buildModule)})`])) },
  ]);
  const [node, version, load] = medians as [number, number, number];
  return {
    nodeMs: node,
    rows: [
      row('start-up: `stratum --version`', 'a process', version, '`node -e 0`', node),
      row('start-up: load the build modules', 'a process', load, '`node -e 0`', node, 'engine, store and reporters imported, nothing run'),
    ],
  };
}
