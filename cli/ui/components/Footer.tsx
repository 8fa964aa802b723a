import { Text } from 'ink';
import type { Mode } from '../state.js';
import { useTone } from '../theme.js';
import { footerSegments } from '../frame-text.js';

export interface FooterProps {
  mode: Mode;
  /** A failed step's log can be toggled. */
  hasFailure: boolean;
  fullLog: boolean;
}

/** The keys that work right now. `r` and `f` only exist in watch mode. */
export function Footer({ mode, hasFailure, fullLog }: FooterProps) {
  const tone = useTone();
  return (
    <Text wrap="truncate-end">
      {footerSegments(mode, hasFailure, fullLog).map((seg, i) => (
        <Text key={i} {...tone(seg.tone)}>
          {seg.text}
        </Text>
      ))}
    </Text>
  );
}
