/** "Did you mean" for the command line: the closest command or flag (engine/dockerfile/diagnostic.ts). */
import { suggest } from '../engine/dockerfile/diagnostic.js';

export const COMMANDS = ['build', 'plan', 'watch', 'bench', 'images', 'history', 'inspect', 'rmi', 'du', 'prune', 'load', 'cache', 'pull', 'push', 'login', 'run', 'ps', 'logs', 'exec', 'start', 'restart', 'stop', 'rm', 'diff', 'commit', 'volume', 'completion', 'help'] as const;

/** A hint for an unknown command: the close one, then the list. */
export function commandHint(word: string): string {
  const s = suggest(word, COMMANDS);
  return `${s ? `did you mean \`stratum ${s}\`? ` : ''}commands: ${COMMANDS.filter((c) => c !== 'help').join(', ')} (run \`stratum --help\`)`;
}

/**
 * For util.parseArgs's "Unknown option '--debounc'" errors: `did you mean --debounce?`, from
 * the flags this command takes. Undefined when the message is another error or nothing is close.
 */
export function flagHint(message: string, flags: readonly string[]): string | undefined {
  const m = /Unknown option '(-{1,2})([^'=]+)/.exec(message);
  if (!m || m[1] !== '--') return undefined;
  const s = suggest(m[2]!, flags);
  return s ? `did you mean --${s}?` : undefined;
}
