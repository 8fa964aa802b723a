/**
 * `.dockerignore` loading and matching. Matching itself is @balena/dockerignore (Docker's
 * rules: Go filepath.Match per segment, `**`, `!` exceptions, last match wins); this file
 * only finds the right file and answers two questions the context walk needs.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import type { Ignore } from '@balena/dockerignore';

// A CommonJS module whose typings declare an ES default export; require() gives the factory.
const ignoreFactory = createRequire(import.meta.url)('@balena/dockerignore') as (opts?: { ignorecase?: boolean }) => Ignore;

export interface IgnoreMatcher {
  /** The file the patterns came from, if any. */
  source: string | undefined;
  patterns: string[];
  /** True when the context-relative path is excluded. */
  ignores(rel: string): boolean;
  /** False when an excluded directory can be skipped whole: no `!` exception could re-include
   *  anything beneath it. */
  mayReinclude: boolean;
  /** Beyond this many path segments a path's verdict is its parent directory's: every pattern
   *  (Docker's rules: a pattern of N segments matches a path of N segments, or excludes a
   *  deeper one through its N-segment prefix) has decided at its own depth. Infinity when a
   *  pattern can match across depths (`**`, or a `[…]` or `\` that might match a `/`). */
  decidedBelow: number;
}

/**
 * BuildKit's precedence: `<Dockerfile>.dockerignore` beside the Dockerfile wins over the
 * context's `.dockerignore`.
 */
export function loadDockerignore(contextDir: string, dockerfilePath: string): IgnoreMatcher {
  const candidates = [join(dirname(dockerfilePath), `${basename(dockerfilePath)}.dockerignore`), join(contextDir, '.dockerignore')];
  for (const file of candidates) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    return createMatcher(parseDockerignore(text), file);
  }
  return createMatcher([], undefined);
}

/** Lines of a .dockerignore: comments and blank lines dropped, whitespace trimmed. */
export function parseDockerignore(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    out.push(line);
  }
  return out;
}

export function createMatcher(patterns: string[], source: string | undefined): IgnoreMatcher {
  const ig = ignoreFactory().add(patterns);
  return {
    source,
    patterns,
    ignores: patterns.length ? (rel) => ig.ignores(rel) : () => false,
    mayReinclude: patterns.some((p) => p.startsWith('!')),
    decidedBelow: decidedDepth(patterns),
  };
}

/** The most segments any pattern has (over-counted: a leading or trailing `/` or `./` counts as
 *  one more, which only makes the shortcut rarer). */
function decidedDepth(patterns: string[]): number {
  let n = 0;
  for (const raw of patterns) {
    const p = raw.startsWith('!') ? raw.slice(1) : raw;
    if (p.includes('**') || p.includes('[') || p.includes('\\')) return Infinity;
    n = Math.max(n, p.split('/').length);
  }
  return n;
}
