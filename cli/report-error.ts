/** Printing user errors: message with position, the offending line underlined, and a hint. */
import { readFileSync } from 'node:fs';
import { formatDiagnostic, type UserError } from '../engine/errors.js';

export function formatUserError(err: UserError): string {
  if (err.diagnostic) {
    let source: string | undefined;
    try {
      source = readFileSync(err.diagnostic.file, 'utf8');
    } catch {
      source = undefined;
    }
    return formatDiagnostic(err.diagnostic, source);
  }
  return `error: ${err.message}${err.hint ? `\nhint: ${err.hint}` : ''}`;
}
