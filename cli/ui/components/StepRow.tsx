import { Text } from 'ink';
import type { StepRowState } from '../state.js';
import { LOOK, rowSegments, type RowLayout } from '../frame-text.js';
import { useTicker } from '../hooks/use-ticker.js';
import { useTone } from '../theme.js';

export { rowLayout, statusLabel, whyText, type RowLayout } from '../frame-text.js';

export interface StepRowProps {
  row: StepRowState;
  multiStage: boolean;
  layout: RowLayout;
}

/** One line of the step table. A running row animates a spinner and its elapsed time. */
export function StepRow({ row, multiStage, layout }: StepRowProps) {
  if (row.status === 'running') return <RunningRow row={row} multiStage={multiStage} layout={layout} />;
  return <RowText row={row} multiStage={multiStage} layout={layout} symbol={LOOK[row.status].symbol} time={row.ms} />;
}

function RunningRow({ row, multiStage, layout }: StepRowProps) {
  const { frame, elapsedMs } = useTicker(100, row.startedAt);
  return <RowText row={row} multiStage={multiStage} layout={layout} symbol={frame} time={elapsedMs} />;
}

function RowText({ row, multiStage, layout, symbol, time }: StepRowProps & { symbol: string; time: number | undefined }) {
  const tone = useTone();
  return (
    <Text wrap="truncate-end">
      {rowSegments(row, multiStage, layout, symbol, time).map((seg, i) => (
        <Text key={i} {...tone(seg.tone)}>
          {seg.text}
        </Text>
      ))}
    </Text>
  );
}
