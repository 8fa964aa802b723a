/**
 * A child's output stream as lines: chunks are decoded as UTF-8 across chunk boundaries (a
 * character split between two reads is not mangled), split at `\n`, a trailing `\r` dropped,
 * and what is left when the stream ends is the last line.
 */
import { StringDecoder } from 'node:string_decoder';

export function lineSplitter(emit: (line: string) => void): { data(chunk: Buffer): void; end(): void } {
  const decoder = new StringDecoder('utf8');
  let buf = '';
  return {
    data(chunk) {
      buf += decoder.write(chunk);
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        emit(buf.slice(0, nl).replace(/\r$/, ''));
        buf = buf.slice(nl + 1);
      }
    },
    end() {
      buf += decoder.end();
      if (buf) emit(buf);
      buf = '';
    },
  };
}
