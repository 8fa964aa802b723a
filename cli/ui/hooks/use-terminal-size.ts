import { useEffect, useState } from 'react';
import { useStdout } from 'ink';

export interface TerminalSize {
  /** Width; 80 when the stream does not say. */
  columns: number;
  /** Height, or undefined when the stream does not say (a pipe, a test stream): no limit. */
  rows: number | undefined;
}

const sizeOf = (stdout: NodeJS.WriteStream): TerminalSize => ({ columns: stdout.columns || 80, rows: stdout.rows || undefined });

/** The terminal's size, updated when it is resized. */
export function useTerminalSize(): TerminalSize {
  const { stdout } = useStdout();
  const [size, setSize] = useState(() => sizeOf(stdout));
  useEffect(() => {
    const onResize = () => setSize(sizeOf(stdout));
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout]);
  return size;
}
