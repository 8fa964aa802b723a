/**
 * `stratum completion bash|zsh|fish`: a completion script on stdout, generated from the same
 * command and flag lists the parser uses (cli/suggest.ts, cli/options.ts), so it cannot drift.
 *   bash: source <(stratum completion bash)     zsh: source <(stratum completion zsh)
 *   fish: stratum completion fish | source
 */
import { EXIT } from '../../engine/errors.js';
import { usageError } from '../usage.js';
import { buildFlags } from '../options.js';
import { COMMANDS } from '../suggest.js';
import type { CommandIo } from './common.js';

/** Flags of the store commands (their parsers live in each command's file). */
const STORE_FLAGS: Record<string, string[]> = {
  images: ['format', 'quiet', 'filter'],
  history: ['format', 'no-trunc'],
  inspect: ['format'],
  rmi: [],
  du: ['format', 'verbose'],
  prune: ['keep-storage', 'until', 'grace', 'format', 'force', 'all', 'dry-run'],
  load: ['tag'],
  cache: ['format'],
  bench: [],
  completion: [],
};

function flagsOf(command: string): string[] {
  if (command === 'build' || command === 'plan' || command === 'watch') return buildFlags(command);
  return [...(STORE_FLAGS[command] ?? []), 'cache-dir', 'help'];
}

const commands = COMMANDS.filter((c) => c !== 'help');

export function completionScript(shell: string): string {
  if (shell === 'bash' || shell === 'zsh') {
    const cases = commands.map((c) => `    ${c}) flags="${flagsOf(c).map((f) => '--' + f).join(' ')}" ;;`).join('\n');
    const body = `_stratum() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd=\${COMP_WORDS[1]} flags=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${commands.join(' ')} --help --version" -- "$cur") ); return
  fi
  case "$cmd" in
${cases}
  esac
  case "$cur" in
    -*) COMPREPLY=( $(compgen -W "$flags" -- "$cur") ) ;;
    *) COMPREPLY=( $(compgen -f -- "$cur") ) ;;
  esac
}
complete -F _stratum stratum`;
    // zsh runs bash completions through bashcompinit.
    return shell === 'zsh' ? `autoload -U +X bashcompinit && bashcompinit\n${body}\n` : body + '\n';
  }
  if (shell === 'fish') {
    const lines = [`complete -c stratum -f -n '__fish_use_subcommand' -a '${commands.join(' ')}'`];
    for (const c of commands) for (const f of flagsOf(c)) lines.push(`complete -c stratum -n '__fish_seen_subcommand_from ${c}' -l ${f}`);
    return lines.join('\n') + '\n';
  }
  throw usageError(`completion: unknown shell "${shell}"`, 'stratum completion bash|zsh|fish');
}

export async function completionCommand(argv: string[], io: CommandIo): Promise<number> {
  const [shell, ...rest] = argv;
  if (shell === undefined || shell === '-h' || shell === '--help') {
    io.stdout.write('Usage: stratum completion bash|zsh|fish\n\n  bash/zsh: source <(stratum completion bash)\n  fish:     stratum completion fish | source\n');
    return shell === undefined ? EXIT.usage : EXIT.ok;
  }
  if (rest.length) throw usageError(`completion: unexpected argument "${rest[0]}"`, 'stratum completion bash|zsh|fish');
  io.stdout.write(completionScript(shell));
  return EXIT.ok;
}
