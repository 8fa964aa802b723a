/**
 * Read, parse and plan a Dockerfile: the pure front half of a build, shared by `build`,
 * `plan` and `watch`. Every failure is a UserError with a position and a hint.
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ImageConfig, Store } from '../cache/store-types.js';
import { parseDockerfile } from './dockerfile/parse.js';
import { toInstructions } from './dockerfile/instructions.js';
import type { Instruction, ParsedDockerfile } from './dockerfile/types.js';
import { EXIT, UserError } from './errors.js';
import { plan, type Plan } from './plan.js';
import type { Platform } from './platform.js';
import { isOciLayoutRef, ociLayoutConfig } from './oci/layout-read.js';

export interface Loaded {
  source: string;
  parsed: ParsedDockerfile;
  instructions: Instruction[];
  plan: Plan;
}

export function loadDockerfile(
  dockerfile: string,
  displayName: string,
  opts: { buildArgs: Record<string, string>; target?: string; store?: Store; platform?: Platform; carried?: (ref: string) => ImageConfig | undefined },
): Loaded {
  let source: string;
  try {
    source = readFileSync(dockerfile, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(
      'NO_DOCKERFILE',
      code === 'ENOENT' ? `no Dockerfile at ${dockerfile}` : `cannot read ${dockerfile}: ${(err as Error).message}`,
      'pass the Dockerfile with -f PATH, or run in a directory that has one',
      EXIT.usage,
      undefined,
      dockerfile,
    );
  }
  const parsed = parseDockerfile(source, displayName);
  if (!parsed.ok) throw UserError.fromDiagnostic(parsed.error);
  const instrs = toInstructions(parsed.value);
  if (!instrs.ok) throw UserError.fromDiagnostic(instrs.error);
  const planned = plan(instrs.value, {
    file: displayName,
    buildArgs: opts.buildArgs,
    ...(opts.target !== undefined ? { target: opts.target } : {}),
    escapeToken: parsed.value.escapeToken,
    ...(opts.platform ? { platform: opts.platform } : {}),
    // A base found nowhere here may be carried by a --cache-from cache (engine/cache-import.ts).
    lookupImage: (ref) => (isOciLayoutRef(ref) ? ociLayoutConfig(ref, dirname(dockerfile)) : opts.store?.getImage(normalizeRef(ref))?.config) ?? opts.carried?.(ref),
  });
  if (!planned.ok) throw UserError.fromDiagnostic(planned.error);
  return { source, parsed: parsed.value, instructions: instrs.value, plan: planned.value };
}

/** `name` → `name:latest`, as Docker does for references without a tag or digest. */
export function normalizeRef(ref: string): string {
  const lastSlash = ref.lastIndexOf('/');
  const tail = ref.slice(lastSlash + 1);
  return tail.includes(':') || tail.includes('@') ? ref : `${ref}:latest`;
}
