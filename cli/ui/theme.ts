/**
 * Colours by meaning, not by name, so the palette stays readable on dark and light
 * terminals: only green, red, yellow, cyan, bold and dim, never white, black or gray, which
 * vanish on one background or the other. With colour off (NO_COLOR), every tone is plain
 * text: no ANSI styling at all, bold and dim included.
 */
import { createContext, useContext } from 'react';

import type { Tone } from './frame-text.js';

export type { Tone };

export interface ToneProps {
  color?: 'green' | 'red' | 'yellow' | 'cyan';
  dimColor?: boolean;
  bold?: boolean;
}

const TONES: Record<Tone, ToneProps> = {
  ok: { color: 'green' },
  bad: { color: 'red' },
  warn: { color: 'yellow' },
  info: { color: 'cyan' },
  dim: { dimColor: true },
  strong: { bold: true },
  plain: {},
};

/** Whether the UI may style its text; App provides it, from `colorEnabled()` by default. */
export const ColorContext = createContext(true);

/** The `<Text>` props of a tone under the current colour setting. */
export function useTone(): (tone: Tone) => ToneProps {
  const color = useContext(ColorContext);
  return color ? (tone) => TONES[tone] : () => TONES.plain;
}
