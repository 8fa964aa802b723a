/**
 * `--progress=json`: one JSON object per event per line (NDJSON) on stdout. Every object
 * starts with `"v":1`, the schema version (docs/events.md): fields are only ever added
 * within a version; a change to a documented field's meaning bumps it.
 */
import type { BuildEvent } from '../../engine/events.js';

export const EVENT_SCHEMA_VERSION = 1;

export function jsonReporter(write: (line: string) => void): (e: BuildEvent) => void {
  return (e) => write(JSON.stringify({ v: EVENT_SCHEMA_VERSION, ...e }));
}
