/** `--progress=json`: one JSON object per event per line (NDJSON) on stdout. */
import type { BuildEvent } from '../../engine/events.js';

export function jsonReporter(write: (line: string) => void): (e: BuildEvent) => void {
  return (e) => write(JSON.stringify(e));
}
