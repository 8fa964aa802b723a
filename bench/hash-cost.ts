/**
 * What sha256 identities cost against xxh64 (issue 11, item 4): step keys, layer and chain
 * digests and blob names became sha256 so that another machine or a remote cache can trust
 * them. Two rows, each as a ratio sha256 / xxh64 measured interleaved in the same run:
 *
 * - key records: the canonical JSON of typed COPY key records (the shape build.ts hashes),
 *   sha256 (stepKey) against xxh64 of the same strings; and one COPY's file-row list
 *   (filesDigest), sha256 against xxh64;
 * - read + hash of the context: every file of the context read into one 64 KiB buffer and
 *   hashed, hashFileSync (sha256, what the context fingerprints and blob writes do) against
 *   hashFileXxh64Sync (the old content digest). The stat cache means a warm build pays this
 *   only for files whose stat moved; a cold build pays it once per file.
 *
 * Run alone: `node dist/bench/run.js --only=hash [--files=N]` (no CLI scenarios).
 */
import { canonicalJson, hashFileSync, hashFileXxh64Sync, sha256, xxh64 } from '../cache/hash.js';
import { EMPTY_CHAIN } from '../cache/digest.js';
import { filesDigest, KEY_SCHEMA, ociPlatform, type FileRow, type KeyRecordV2 } from '../engine/step-key.js';
import { walkFloor } from './floors.js';
import { interleaveMedians } from './measure.js';
import type { PhaseRow } from './phases.js';

/** A COPY key record over `rows` (what a `COPY src/ ./src/` of the context hashes). */
function copyRecord(rows: FileRow[]): KeyRecordV2 {
  return {
    schema: KEY_SCHEMA,
    op: 'COPY',
    platform: ociPlatform(),
    executor: 'host',
    parent: EMPTY_CHAIN,
    instruction: 'src/ ./src/',
    flags: {},
    workdir: '/app',
    files: { digest: filesDigest(rows), count: rows.length },
  };
}

/** Rows of the two hash comparisons on the context at `contextDir`. */
export async function measureHashCost(contextDir: string, rounds: number, label: string): Promise<PhaseRow[]> {
  const files = walkFloor(contextDir);
  const rows: FileRow[] = files.map((f, i) => [f.slice(contextDir.length + 1), 'f', 0o644, i.toString(16).padStart(64, '0')]);
  // Key records: 1,000 records a round, each a few hundred bytes (the per-step record; the
  // file-row list is hashed once per COPY, measured as the second key row).
  const records = Array.from({ length: 1000 }, (_, i) => ({ ...copyRecord(rows.slice(0, 1)), instruction: `src/${i} ./src/` }));
  const texts = records.map((r) => canonicalJson(r));
  const [shaKeys, xxKeys] = await interleaveMedians(rounds * 4, [{ run: () => texts.forEach((t) => sha256(t)) }, { run: () => texts.forEach((t) => xxh64(t)) }]);
  const rowsText = JSON.stringify(rows);
  const [shaRows, xxRows] = await interleaveMedians(rounds * 4, [{ run: () => sha256(rowsText) }, { run: () => xxh64(rowsText) }]);
  const [shaRead, xxRead] = await interleaveMedians(rounds, [{ run: () => files.forEach((f) => hashFileSync(f)) }, { run: () => files.forEach((f) => hashFileXxh64Sync(f)) }]);
  const out = (phase: string, on: string, ms: number, floor: string, floorMs: number, note: string): PhaseRow => ({ phase, on, ms, floor, floorMs, ratio: ms / floorMs, note });
  return [
    out('hash: sha256 vs xxh64, key records', '1,000 COPY key records', shaKeys!, 'xxh64 of the same canonical JSON', xxKeys!, 'per-call cost dominates (node:crypto createHash); a build hashes one record per step'),
    out('hash: sha256 vs xxh64, COPY file rows', `${rows.length} rows`, shaRows!, 'xxh64 of the same rows', xxRows!, 'one list per COPY, hashed as filesDigest() does'),
    out('hash: sha256 vs xxh64, read + hash of the context', label, shaRead!, 'read + xxh64 (hashFileXxh64Sync)', xxRead!, 'what a cold fingerprint pass or a cold COPY pays per file'),
  ];
}
