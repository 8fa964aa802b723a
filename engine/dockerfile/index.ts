/** The Dockerfile front end: parse, convert to typed instructions, expand variables. */
export { parseDockerfile, MAX_LINE_BYTES } from './parse.js';
export { toInstructions, toInstruction, INSTRUCTION_KINDS, FLAG_SPECS } from './instructions.js';
export { expandInstruction, expandWord, expandWords, type Lookup } from './expand.js';
export { dumpDockerfile, dumpNode } from './dump.js';
export { formatDiagnostic } from '../errors.js';
export type * from './types.js';
