import { useEffect, useState } from 'react';
import { useStdout } from 'ink';

export interface TerminalSize {
  /** Width; 80 when the stream does not say. */
  columns: number;
  /** Height, or undefined when the stream does not say (a pipe, a test stream): no limit. */
  rows: number | undefined;
}

/** The terminal's size, updated when it is resized. */
export function useTerminalSize(): TerminalSize {
  const { stdout } = useStdout();
  const read = (): TerminalSize => ({ columns: stdout.columns || 80, rows: stdout.rows || undefined });
  const [size, setSize] = useState(read);
  useEffect(() => {
    const onResize = () => setSize(read());
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [stdout]);
  return size;
}
