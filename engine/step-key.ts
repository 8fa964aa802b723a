/**
 * Cache keys (DESIGN.md "Cache keys: the contract"). key = sha256(canonical JSON of a typed
 * record). The record holds the chain digest below the step (by content, so a byte-identical
 * rebuilt layer lets later steps hit again), the platform and the executor the step runs on,
 * the config state that reaches this step's execution, the expanded instruction with flags in
 * canonical order, and the fingerprints of copied files. mtimes never enter: touching a file
 * is not a change.
 *
 * sha256, not xxh64: a key is trusted by a remote cache and by other machines (`--cache-from`),
 * and a 64-bit non-cryptographic hash can be collided on purpose (issue 11, item 4). The cost
 * is measured in bench/phases.ts ("hash: sha256 vs xxh64, key records").
 */
import { canonicalJson, sha256 } from '../cache/hash.js';
import { asStepKey, type ChainDigest, type StepKey } from '../cache/digest.js';
import type { ExecutorKind } from './executor-types.js';

/** Bump whenever the record's shape or meaning changes: old keys then simply miss.
 *  2: sha256 keys over sha256 content digests; `platform` and `executor` in the record. */
export const KEY_SCHEMA = 2;

/** Bump when what a sandboxed RUN sees changes, so its old layers miss.
 *  2: /tmp is the image's own directory (1 mounted a tmpfs over it). */
export const SANDBOX_REVISION = 2;

/** (relative path, type, mode, content digest or link target) of one copied source. */
export type FileRow = [path: string, type: 'f' | 'd' | 'l', mode: number, digestOrTarget: string];

export interface KeyRecordV2 {
  schema: typeof KEY_SCHEMA;
  op: 'RUN' | 'COPY' | 'ADD' | 'WORKDIR';
  /** OCI `os/arch[/variant]` of the machine the step runs on (`linux/amd64`): a RUN on
   *  another CPU can produce other bytes, and a remote cache serves many platforms. */
  platform: string;
  /** Which executor runs the step (DESIGN.md "Executors"): a RUN on the host sees the host's
   *  filesystem, in the sandbox the image's, so their results are not interchangeable. */
  executor: ExecutorKind;
  /** RUN in the sandbox: what the sandbox gives a command, as a revision (SANDBOX_REVISION):
   *  a layer made by an older sandbox (one with a tmpfs /tmp) must not be served. */
  runtime?: number;
  /** Chain digest of the filesystem below the step. */
  parent: ChainDigest;
  /** The instruction after expansion (command for RUN, sources and dest for COPY). */
  instruction: string;
  /** Flags that change the result, canonical (sorted keys). */
  flags: Record<string, string>;
  /** Environment the command sees from the image (RUN only): ENV plus ARGs in scope. */
  env?: Record<string, string>;
  workdir?: string;
  user?: string;
  shell?: string[];
  /** COPY/ADD from the context: digest and count of the sorted FileRow list (the list itself is
   *  kept beside the key, for miss explanations). */
  files?: { digest: string; count: number };
  /** COPY --from a stage or image: the source's chain digest. */
  sourceChain?: ChainDigest;
  /** RUN --mount=type=bind,from=<stage|image>: the chain digest of each mounted source, by
   *  the mount's target. */
  mountChains?: Record<string, ChainDigest>;
  /** RUN --mount=type=cache: target and id only; contents never enter a key. */
  cacheMounts?: { target: string; id: string }[];
}

/** @deprecated the record is version 2 now; kept as an alias for callers not yet renamed. */
export type KeyRecordV1 = KeyRecordV2;

const OCI_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips: 'mips', mipsel: 'mipsle' };
const OCI_OS: Record<string, string> = { linux: 'linux', darwin: 'darwin', win32: 'windows', freebsd: 'freebsd', openbsd: 'openbsd', sunos: 'solaris', aix: 'aix' };

/** `process.platform`/`process.arch` in OCI's names (image-spec config.md `os`/`architecture`,
 *  as Go's GOOS/GOARCH): `linux/amd64`, `linux/arm64`, `darwin/arm64`. */
export function ociPlatform(platform: string = process.platform, arch: string = process.arch): string {
  return `${OCI_OS[platform] ?? platform}/${OCI_ARCH[arch] ?? arch}`;
}

export function stepKey(record: KeyRecordV2): StepKey {
  return asStepKey(sha256(canonicalJson(record)));
}

/** Digest of a sorted FileRow list (sha256: its rows carry content digests into the key). */
export function filesDigest(rows: readonly FileRow[]): string {
  return sha256(JSON.stringify(rows));
}
