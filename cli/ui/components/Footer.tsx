import { Text } from 'ink';
import type { Mode } from '../state.js';
import { useTone } from '../theme.js';

export interface FooterProps {
  mode: Mode;
  /** A failed step's log can be toggled. */
  hasFailure: boolean;
  fullLog: boolean;
}

/** The keys that work right now. `r` and `f` only exist in watch mode. */
export function Footer({ mode, hasFailure, fullLog }: FooterProps) {
  const tone = useTone();
  const keys: [string, string][] = [['q', 'quit']];
  if (mode === 'watch') keys.push(['r', 'rebuild'], ['f', 'rebuild without cache']);
  if (hasFailure) keys.push(['l', fullLog ? 'hide the full log' : 'full log']);
  return (
    <Text wrap="truncate-end">
      {keys.map(([key, what], i) => (
        <Text key={key}>
          {i > 0 ? <Text {...tone('dim')}> · </Text> : ''}
          <Text {...tone('info')}>{key}</Text>
          <Text {...tone('dim')}> {what}</Text>
        </Text>
      ))}
    </Text>
  );
}
