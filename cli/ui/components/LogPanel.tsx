import { Box, Text } from 'ink';
import type { StepRowState } from '../state.js';
import { stageTag, truncate } from '../format.js';
import { useTone } from '../theme.js';

export interface LogPanelProps {
  step: StepRowState;
  /** The last lines of the step's output, already cleaned of escape sequences. */
  lines: readonly string[];
  multiStage: boolean;
  columns: number;
}

/** The running step's latest output, under a one-line title naming the step. */
export function LogPanel({ step, lines, multiStage, columns }: LogPanelProps) {
  const tone = useTone();
  const width = Math.max(1, columns - 5);
  return (
    <Box flexDirection="column" marginTop={1}>
      <Text wrap="truncate-end" {...tone('dim')}>
        {truncate(`output of ${stageTag(step, multiStage)} ${step.instruction}`, columns - 1)}
      </Text>
      {lines.map((line, i) => (
        <Text key={i} wrap="truncate-end">
          <Text {...tone('dim')}>  │ </Text>
          {truncate(line, width)}
        </Text>
      ))}
    </Box>
  );
}
