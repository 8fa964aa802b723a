/** COPY and ADD: from the context (by file fingerprints), or from a stage or image. */
import { asBlobDigest, type BlobDigest, type LayerDigest } from '../../cache/digest.js';
import { rememberKin } from '../layer-kin.js';
import { sha256 } from '../../cache/hash.js';
import type { LayerEntry } from '../../cache/layer-types.js';
import { stepError, type Session } from '../build-session.js';
import { CopyError, copyFromContext, copyFromView, type CopyResult } from '../copy.js';
import { archiveKind, unpackedEntries, type ArchiveKind } from '../add-archive.js';
import { fetchRemote, isGitSource, isHttpSource, type RemoteFile } from '../add-url.js';
import type { CtxEntry } from '../context.js';
import type { ViewLike } from '../workspace.js';
import { posix } from 'node:path';
import type { Instruction } from '../dockerfile/types.js';
import { normalizeRef } from '../load.js';
import type { PlannedStep } from '../plan.js';
import { lazyView, type StageRun } from '../stage-state.js';
import { KEY_SCHEMA } from '../step-key.js';
import type { FsHandler, KeyInputs } from './cached-step.js';

type CopyInstr = Extract<Instruction, { kind: 'COPY' | 'ADD' }>;
interface CopyInputs extends KeyInputs {
  copy: CopyResult;
  /** ADD: tar archives, unpacked into `archiveDest` (engine/add-archive.ts). */
  archives?: Archive[];
  archiveDest?: string;
  below?: ViewLike;
}

/** An archive an ADD unpacks: the source that named it (copied as a file when it is no tar
 *  after all), its file, and its compression as found when the key was made. */
interface Archive {
  source: string;
  entry: CtxEntry;
  kind: ArchiveKind;
}

/** ADD's remote files, fetched for a step before its inputs are computed. */
const fetched = new WeakMap<PlannedStep, Map<string, RemoteFile>>();

export const copyStep: FsHandler<CopyInputs> = {
  async prefetch(s, step, _run, signal) {
    const ins = step.instr as CopyInstr;
    if (ins.kind !== 'ADD' || ins.from !== undefined) return;
    const urls = ins.sources.filter((src) => isHttpSource(src) || isGitSource(src));
    if (!urls.length) return;
    const files = new Map<string, RemoteFile>();
    for (const url of urls) {
      if (isGitSource(url)) throw stepError(s, step, 'ADD_URL', `ADD ${url}: adding a git repository is not supported yet`, 'clone it in a RUN (RUN git clone …), or into the build context before the build');
      try {
        const f = await fetchRemote(s.store, url, { ...(ins.checksum !== undefined ? { checksum: ins.checksum } : {}), signal });
        // Leased before the layer names it: a prune in between must not take it.
        s.lease?.pending([f.digest]);
        files.set(url, f);
      } catch (err) {
        if (err instanceof CopyError) throw stepError(s, step, 'ADD_URL', err.message, err.hint);
        throw err;
      }
    }
    fetched.set(step, files);
  },
  inputs(s, step, run) {
    const ins = step.instr as CopyInstr;
    const record: CopyInputs['record'] = { schema: KEY_SCHEMA, op: ins.kind, platform: s.platform, executor: s.executorKind(step), parent: run.chain, instruction: `${ins.sources.join(' ')} ${ins.dest}`, flags: {} };
    if (ins.chmod) record.flags.chmod = ins.chmod;
    if (ins.chown) record.flags.chown = ins.chown;
    if (ins.link) record.flags.link = 'true';
    if (ins.parents) record.flags.parents = 'true';
    if (ins.unpack !== undefined) record.flags.unpack = String(ins.unpack);
    if (ins.exclude.length) record.flags.exclude = ins.exclude.join(',');
    record.workdir = step.before.workdir;
    const below = lazyView(s.store, run, s.dryLayers);
    if (ins.from === undefined) {
      const remote = fetched.get(step);
      const copy = copyFromContext(ins, step.before.workdir, s.ctx, below, remote);
      const files = copy.files!;
      if (remote?.size) record.instruction += ` ${JSON.stringify([...remote.values()].map((r) => r.name))}`;
      record.files = { digest: files.digest, count: files.count };
      // Local archives unpack unless --unpack=false; a downloaded one only with --unpack (BuildKit's).
      const archives = ins.kind === 'ADD' && ins.unpack !== false ? localArchives(s, step, ins) : [];
      if (ins.kind === 'ADD' && ins.unpack === true && remote) archives.push(...remoteArchives(s, remote));
      if (!archives.length) return { record, files, copy };
      // The key covers every source (the archives by their bytes); the layer is the other
      // sources' copy plus each archive unpacked into the destination directory.
      const rest = ins.sources.filter((src) => !archives.some((a) => a.source === src));
      const others = rest.length ? copySome(s, step, ins, rest, below, remote) : undefined;
      const destRel = posix.resolve(step.before.workdir || '/', ins.dest).replace(/^\/+/, '');
      return { record, files, copy: others ?? { entries: [], blobs: [], inline: [] }, archives, archiveDest: destRel, below };
    }
    const src = sourceOf(s, step, ins);
    record.sourceChain = src.chain;
    const copy = copyFromView(ins, step.before.workdir, lazyView(s.store, src, s.dryLayers), below);
    record.flags.from = 'stage';
    record.instruction += ` ${JSON.stringify(copy.fromPaths)}`;
    return { record, copy };
  },
  dryEntries(_s, step, _run, { copy, archives }) {
    // An archive's entries are known only once it is unpacked: the layer is unknown to a plan.
    if (archives?.length) return undefined;
    return copyEntries(copy, step.instr as CopyInstr, (c) => ({ digest: asBlobDigest(sha256(c)), size: Buffer.byteLength(c) }));
  },
  async produce(s, step, run, { copy, archives, archiveDest, below }) {
    // Leased before they are written: one may exist already, unreferenced, and a prune must
    // not take it between our "present" and our layer.
    s.lease?.pending(copy.blobs.map((b) => b.digest));
    // A new version of this step's layer: most of its blobs are in the store already, and one
    // listing per blob folder finds them (only the changed files are written; a one-file
    // change of a 10k-file COPY stat'ed all 10k).
    const prevKey = s.history.previousKey(step);
    const earlier = prevKey ? s.store.layerOfKey(prevKey) : undefined;
    if (earlier) s.store.trustListedBlobs(copy.blobs);
    for (const b of copy.blobs) s.store.writeBlobFromFile(b.abs, { digest: b.digest, size: b.size });
    const entries = copyEntries(copy, step.instr as CopyInstr, (c) => s.store.writeBlob(Buffer.from(c)));
    if (archives?.length) {
      const dest = archiveDest ?? '';
      const byPath = new Map(entries.map((e) => [e.path, e]));
      if (dest !== '' && below?.get(dest)?.type !== 'dir' && !byPath.has(dest)) byPath.set(dest, { path: dest, type: 'dir', mode: 0o755 });
      try {
        for (const a of archives) {
          const unpacked = await unpackedEntries(s.store, a.entry, a.kind, dest);
          if (unpacked) {
            for (const e of unpacked) byPath.set(e.path, e);
            continue;
          }
          // An xz or bzip2 file that holds no tar: copied as it is, as Docker does.
          const plain = copySome(s, step, step.instr as CopyInstr, [a.source], below ?? lazyView(s.store, run, s.dryLayers), fetched.get(step));
          s.lease?.pending(plain.blobs.map((b) => b.digest));
          for (const b of plain.blobs) s.store.writeBlobFromFile(b.abs, { digest: b.digest, size: b.size });
          for (const e of plain.entries) byPath.set(e.path, e);
        }
      } catch (err) {
        if (err instanceof CopyError) throw stepError(s, step, 'ADD_ARCHIVE', err.message, err.hint);
        throw err;
      }
      return { kind: 'layer', entries: [...byPath.values()] };
    }
    // The new layer is a version of the earlier one: the sandbox extracts it by linking what
    // did not change (engine/layer-kin.ts).
    const committed = earlier && entries.length ? (layers: LayerDigest[]) => rememberKin(layers[layers.length - 1]!, earlier) : undefined;
    return { kind: 'layer', entries, ...(committed ? { committed } : {}) };
  },
};

/** The copy of some of an ADD's context sources, into the destination as the whole
 *  instruction names it (a directory when it has several sources). */
function copySome(s: Session, step: PlannedStep, ins: CopyInstr, sources: string[], below: ViewLike, remote?: ReadonlyMap<string, RemoteFile>): CopyResult {
  const multi = ins.sources.length > 1 && !ins.dest.endsWith('/');
  return copyFromContext({ ...ins, sources, dest: multi ? `${ins.dest}/` : ins.dest }, step.before.workdir, s.ctx, below, remote);
}

/** `ADD --unpack <url>`: the downloads (in the store already) that are archives, each as an
 *  entry naming its blob; one that is not an archive is copied as a file, as BuildKit does. */
function remoteArchives(s: Session, remote: ReadonlyMap<string, RemoteFile>): Archive[] {
  const out: Archive[] = [];
  for (const r of remote.values()) {
    const entry: CtxEntry = { rel: r.name, abs: s.store.blobPath(r.digest), type: 'file', mode: 0o644, size: r.size, digest: r.digest };
    const kind = archiveKind(entry);
    if (kind) out.push({ source: r.url, entry, kind });
  }
  return out;
}

/** The stage (or local image) a COPY --from reads. */
function sourceOf(s: Session, step: PlannedStep, ins: CopyInstr): StageRun {
  const srcStage = s.plan.copyFrom.get(step);
  if (srcStage !== undefined) return s.runs.get(srcStage)!;
  const image = s.store.getImage(normalizeRef(ins.from!));
  if (!image) throw stepError(s, step, 'NO_IMAGE', `COPY --from=${ins.from}: no stage or image by that name`, 'name a stage defined above (FROM … AS name), or an image in the local store');
  return { layers: image.layers, chain: image.chain, history: [] };
}

/** A copy's layer entries, heredoc bodies turned into blobs by `blob`. */
function copyEntries(c: CopyResult, ins: CopyInstr, blob: (content: string) => { digest: BlobDigest; size: number }): LayerEntry[] {
  const entries = [...c.entries];
  for (const i of c.inline) {
    const w = blob(i.content);
    entries.push({ path: i.path, type: 'file', mode: ins.chmod ? parseInt(ins.chmod, 8) : 0o644, size: w.size, digest: w.digest });
  }
  return entries;
}

/** ADD's sources that are local tar archives (a source pattern that matches one is unpacked
 *  only when it is a single file, as in Docker). */
function localArchives(s: Session, step: PlannedStep, ins: CopyInstr): Archive[] {
  const out: Archive[] = [];
  for (const source of ins.sources) {
    if (/^<<-?/.test(source) || /^[a-z][a-z0-9+.-]*:\/\//i.test(source)) continue;
    const matches = s.ctx.select(source);
    const archives = matches.flatMap((m) => {
      const kind = archiveKind(m.top);
      return kind ? [{ source, entry: m.top, kind }] : [];
    });
    if (!archives.length) continue;
    if (matches.length > 1) throw stepError(s, step, 'ADD_ARCHIVE', `ADD ${source}: a pattern that matches an archive (${archives[0]!.entry.rel}) and other files`, 'name the archive on its own: ADD archive.tar.gz /dest/');
    out.push(archives[0]!);
  }
  return out;
}
