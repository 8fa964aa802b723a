import { Box, Text } from 'ink';
import { currentFailure, type ContainerLine, type UiState } from '../state.js';
import { count, formatFiles, truncate } from '../format.js';
import { useTone, type Tone } from '../theme.js';
import { headerSegments, lastTone as toneOfLast, totalsText } from '../frame-text.js';
import { useMemo } from 'react';
import { formatError } from '../../../engine/errors.js';
import type { BuildError } from '../../../engine/events.js';

export { phaseText, totalsText } from '../frame-text.js';

export interface HeaderProps {
  state: UiState;
  columns: number;
}

/**
 * Build number and state, the current build's progress, and the totals of the last finished
 * build, which stay on screen while the next one runs. In watch mode, the change that
 * started the build.
 */
export function Header({ state, columns }: HeaderProps) {
  const tone = useTone();
  const building = state.phase === 'building' || state.phase === 'cancelling';
  const last = state.last;
  const lastIsCurrent = last !== undefined && last.build === state.build;
  const lastTone = toneOfLast(last);
  // `stratum build` has one build: once it is over, its totals are the state.
  const oneLine = state.mode === 'build' && lastIsCurrent && !building;
  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end">
        {headerSegments(state).map((seg, i) => (
          <Text key={i} {...tone(seg.tone)}>
            {seg.text}
          </Text>
        ))}
      </Text>
      {last !== undefined && !oneLine && (
        <Text wrap="truncate-end">
          <Text {...tone('dim')}>{lastIsCurrent ? `build #${last.build} ` : `last build #${last.build} `}</Text>
          <Text {...tone(lastTone)}>{totalsText(last, state.storeSize)}</Text>
        </Text>
      )}
      {/* A step failure is told by the failure panel; this is for errors outside any step. */}
      {lastIsCurrent && last.error !== undefined && currentFailure(state) === undefined && (
        <ErrorLines error={last.error} columns={columns} />
      )}
      {state.mode === 'watch' && state.change !== undefined && (
        <Text wrap="truncate-end" {...tone('dim')}>
          {changeText(state, columns)}
        </Text>
      )}
      {state.container !== undefined && (
        <Text wrap="truncate-end" {...tone(CONTAINER_TONE[state.container.state])}>
          {containerText(state.container)}
        </Text>
      )}
      {state.container?.log.map((l, i) => (
        <Text key={`log${i}`} wrap="truncate-end" {...tone('dim')}>
          {truncate(`  │ ${l}`, columns - 1)}
        </Text>
      ))}
      {state.warnings.map((w, i) => (
        <Text key={i} wrap="truncate-end" {...tone('warn')}>
          ! {w}
        </Text>
      ))}
    </Box>
  );
}

const CONTAINER_TONE: Record<ContainerLine['state'], Tone> = { starting: 'info', running: 'ok', stopping: 'dim', exited: 'warn', failed: 'bad' };

/** `container web (web:dev): running · 2 restarts` */
export function containerText(c: ContainerLine): string {
  const code = c.exitCode != null && c.state === 'exited' ? ` (exit ${c.exitCode})` : '';
  return `container ${c.name} (${c.image}): ${c.state}${code} · ${count(c.restarts, 'restart', 'restarts')}`;
}

function changeText(state: UiState, columns: number): string {
  const change = state.change!;
  const files = change.dockerfile ? 'Dockerfile' : formatFiles(change.files);
  const busy = state.phase === 'debouncing' || state.phase === 'building' || state.phase === 'cancelling';
  const text = busy
    ? `changed ${files}${change.fromStep !== undefined ? ` → rebuilding from step ${change.fromStep}` : ''}`
    : `last change: ${files}${change.fromStep !== undefined ? ` (rebuilt from step ${change.fromStep})` : ''}`;
  return truncate(text, columns - 1);
}

/**
 * A build error outside any step, as `stratum build` prints it: with a Dockerfile position,
 * `file:line:col: message`, the line quoted and underlined, and the hint (one formatter).
 */
function ErrorLines({ error, columns }: { error: BuildError; columns: number }) {
  const tone = useTone();
  const lines = useMemo(() => formatError(error).replace(/^error: /, '').split('\n'), [error]);
  return (
    <Box flexDirection="column">
      {lines.map((l, i) => (
        <Text key={i} wrap="truncate-end" {...tone(l.startsWith('hint: ') ? 'warn' : i === 0 ? 'bad' : 'plain')}>
          {truncate(l, columns - 1)}
        </Text>
      ))}
    </Box>
  );
}
