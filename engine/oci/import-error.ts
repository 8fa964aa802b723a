/**
 * A refused or unreadable import (bad archive, hostile entry, digest mismatch): a UserError
 * with exit code 2 (bad input), a message that names the archive and the member, and a hint.
 */
import { EXIT, UserError, type ImportCode } from '../errors.js';

export class ImportError extends UserError {
  constructor(code: ImportCode, message: string, hint = 'the archive is damaged or not an image archive; no image was stored') {
    super(`IMPORT_${code}`, message, hint, EXIT.usage);
    this.name = 'ImportError';
  }
}
