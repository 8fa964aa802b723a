import { Box, Text } from 'ink';
import type { FailureInfo } from '../state.js';
import { formatDuration, stageTag, truncate } from '../format.js';
import { useTone } from '../theme.js';

export interface FailurePanelProps {
  failure: FailureInfo;
  /** Show every kept line of the step's output instead of the engine's tail. */
  full: boolean;
  /** Keys work: offer `l` when there is more to see. */
  interactive: boolean;
  multiStage: boolean;
  columns: number;
  /** The full log's window (App pages it): `size` lines, `fromEnd` lines up from the end. */
  page?: { size: number; fromEnd: number };
}

/** What failed, why, what to do, and the output that shows it. */
export function FailurePanel({ failure, full, interactive, multiStage, columns, page }: FailurePanelProps) {
  const tone = useTone();
  const width = Math.max(1, columns - 5);
  const all = full ? failure.fullLog : failure.logTail;
  const end = full && page ? Math.max(0, all.length - page.fromEnd) : all.length;
  const start = full && page ? Math.max(0, end - page.size) : 0;
  const lines = all.slice(start, end);
  const paged = full && page !== undefined && all.length > page.size;
  const more = failure.fullLog.length > failure.logTail.length || failure.fullLogTruncated;
  const title = `${stageTag(failure.step, multiStage)} ${failure.step.instruction}`;
  return (
    <Box flexDirection="column" marginTop={1}>
      <Text wrap="truncate-end">
        <Text {...tone('bad')}>✗ {truncate(title, Math.max(1, columns - 30))}</Text>
        <Text> failed after {formatDuration(failure.ms)}</Text>
      </Text>
      <Text wrap="wrap" {...tone('bad')}>
        {'  '}
        {failure.message}
      </Text>
      {failure.hint !== undefined && (
        <Text wrap="wrap">
          {'  '}
          <Text {...tone('info')}>hint:</Text> {failure.hint}
        </Text>
      )}
      {lines.length > 0 && (
        <Text wrap="truncate-end" {...tone('dim')}>
          {full
            ? paged
              ? `  full log, lines ${start + 1}–${end} of ${all.length}${failure.fullLogTruncated ? ' (the earliest were dropped)' : ''} · ↑/↓ line · PgUp/PgDn page · g/G ends:`
              : `  full log, ${all.length} lines${failure.fullLogTruncated ? ' (the earliest were dropped)' : ''}:`
            : `  last ${lines.length} lines of output:`}
        </Text>
      )}
      {lines.map((line, i) => (
        <Text key={i} wrap="truncate-end">
          <Text {...tone('dim')}>  │ </Text>
          {truncate(line, width)}
        </Text>
      ))}
      {interactive && !full && more && (
        <Text {...tone('dim')}>  press l for the full log ({failure.fullLog.length} lines)</Text>
      )}
    </Box>
  );
}
