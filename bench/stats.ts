/**
 * Small statistics and number formatting shared by `stratum bench` and the project's suite.
 * Engine-free: nothing here imports from engine/ or cache/.
 */

/** Median of a non-empty list (the mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function min(xs: readonly number[]): number {
  return xs.length ? Math.min(...xs) : NaN;
}

export function max(xs: readonly number[]): number {
  return xs.length ? Math.max(...xs) : NaN;
}

/** Round to `digits` decimals (for JSON output: stable, readable numbers). */
export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** `12 ms`, `1.23 s`: milliseconds below 10 s show as ms, above as seconds. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** `1.3×` */
export function formatRatio(r: number): string {
  if (!Number.isFinite(r)) return '–';
  return r >= 100 ? `${Math.round(r)}×` : r >= 10 ? `${r.toFixed(1)}×` : `${r.toFixed(2)}×`;
}

/** `min–max` with one unit: `250–290 ms`. */
export function formatRange(lo: number, hi: number): string {
  if (hi < 10_000) return `${lo < 10 ? lo.toFixed(1) : Math.round(lo)}–${hi < 10 ? hi.toFixed(1) : Math.round(hi)} ms`;
  return `${(lo / 1000).toFixed(1)}–${(hi / 1000).toFixed(1)} s`;
}

/** Left-aligned text table with two spaces between columns; numeric-looking columns right-aligned. */
export function table(header: string[], rows: string[][], rightAlign: boolean[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (rightAlign[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
