/** OCI layout / docker-archive export. Not reachable yet: `-o` accepts only type=local. */
import type { ImageRecord, Store } from '../../cache/store-types.js';
import type { OutputSpec } from '../build.js';
import { EXIT, UserError } from '../errors.js';

export async function exportImage(_store: Store, _image: ImageRecord, out: Exclude<OutputSpec, { type: 'local' }>): Promise<void> {
  throw new UserError('OUTPUT_TYPE', `output type "${out.type}" is not supported yet`, 'use -o type=local,dest=DIR', EXIT.usage);
}
