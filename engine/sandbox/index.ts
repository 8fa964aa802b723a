export { detectSandbox, mappingNote, type SandboxCaps, type SandboxUnavailable, type DetectResult } from './detect.js';
export { createSandboxExecutor, createHostToolsExecutor, drainSandboxRemovals, sweepSandboxLeftovers, MAX_CHAIN_LAYERS } from './executor.js';
export { extractLayer } from './extract.js';
export { snapshotUpper } from './snapshot.js';
export { runInSandbox } from './run.js';
export type { IdMapping } from './ns.js';
