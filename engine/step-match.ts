/**
 * Step identity for miss explanations: which step of the previous build of a Dockerfile is
 * "the same step" as a step of this build. Pure.
 *
 * Position alone (`stage#3`) is wrong as soon as a line is inserted, deleted or moved: every
 * later step is then compared with its neighbour and reports "instruction changed". Instead,
 * per stage, the two step lists are aligned the way a text diff aligns lines:
 *
 *   1. anchors: the longest common subsequence of steps with the same kind and the same text
 *      (whitespace runs collapsed): the lines the user did not touch;
 *   2. moved lines: a step left over on both sides with the same kind and text is the same step
 *      moved (two swapped lines leave one of them outside the LCS), nearest position first;
 *   3. edited lines: between two consecutive anchors, left-over steps of the same kind whose
 *      texts are similar (`textSimilarity` >= SIMILAR), nearest position in the gap first;
 *   4. a replaced line: a gap that still holds exactly one step on each side, of the same kind,
 *      is that line rewritten (`RUN make` → `RUN ./build.sh`), however different the text.
 *
 * A step matched to nothing is new: "no earlier build of this step". Stages are matched by
 * `AS` name, falling back to the stage's position when the name is new (a renamed stage).
 */

/** What the matcher compares of a step. */
export interface StepShape {
  /** The instruction keyword: RUN, COPY, ADD, WORKDIR. */
  kind: string;
  /** The instruction as written (the keyword may be included; it is compared through `kind`). */
  text: string;
}

/** Texts at least this similar (0..1) are one step edited. 0.5: `RUN echo one` ↔ `RUN echo two`. */
export const SIMILAR = 0.5;

/** Above this length, character similarity uses bigrams instead of an O(n·m) edit distance. */
const MAX_EDIT_DISTANCE_LEN = 400;

/**
 * For each step of `next`, the index of the same step in `prev`, or undefined for a new step.
 * Every index of `prev` is used at most once.
 */
export function matchSteps(prev: readonly StepShape[], next: readonly StepShape[]): (number | undefined)[] {
  const a = prev.map(normalize);
  const b = next.map(normalize);
  const nextToPrev: (number | undefined)[] = new Array<number | undefined>(b.length).fill(undefined);
  const prevUsed = new Array<boolean>(a.length).fill(false);
  const pair = (i: number, j: number) => {
    nextToPrev[i] = j;
    prevUsed[j] = true;
  };

  // 1. Anchors.
  const anchors = lcs(a, b);
  for (const [j, i] of anchors) pair(i, j);

  // 2. Moved lines: exact text anywhere, nearest first.
  const exact: [i: number, j: number, dist: number][] = [];
  for (let i = 0; i < b.length; i++) {
    if (nextToPrev[i] !== undefined) continue;
    for (let j = 0; j < a.length; j++) if (!prevUsed[j] && a[j]!.key === b[i]!.key) exact.push([i, j, Math.abs(i - j)]);
  }
  exact.sort((x, y) => x[2] - y[2] || x[0] - y[0]);
  for (const [i, j] of exact) if (nextToPrev[i] === undefined && !prevUsed[j]) pair(i, j);

  // 3 and 4. Edited and replaced lines, gap by gap between anchors.
  const bounds: [j: number, i: number][] = [[-1, -1], ...anchors, [a.length, b.length]];
  for (let g = 0; g + 1 < bounds.length; g++) {
    const [j0, i0] = bounds[g]!;
    const [j1, i1] = bounds[g + 1]!;
    const freeNext = range(i0 + 1, i1).filter((i) => nextToPrev[i] === undefined);
    const freePrev = range(j0 + 1, j1).filter((j) => !prevUsed[j]);
    if (!freeNext.length || !freePrev.length) continue;
    const similar: [i: number, j: number, dist: number, sim: number][] = [];
    for (const i of freeNext) {
      for (const j of freePrev) {
        if (a[j]!.kind !== b[i]!.kind) continue;
        const sim = textSimilarity(a[j]!.body, b[i]!.body);
        if (sim >= SIMILAR) similar.push([i, j, Math.abs(i - i0 - (j - j0)), sim]);
      }
    }
    similar.sort((x, y) => x[2] - y[2] || y[3] - x[3] || x[0] - y[0]);
    for (const [i, j] of similar) if (nextToPrev[i] === undefined && !prevUsed[j]) pair(i, j);
    const leftNext = freeNext.filter((i) => nextToPrev[i] === undefined);
    const leftPrev = freePrev.filter((j) => !prevUsed[j]);
    if (leftNext.length === 1 && leftPrev.length === 1 && a[leftPrev[0]!]!.kind === b[leftNext[0]!]!.kind) pair(leftNext[0]!, leftPrev[0]!);
  }
  return nextToPrev;
}

/** A stage as the stage matcher sees it: its `AS` name (lower case), or null. Its position is
 *  its index in the list. */
export interface StageShape {
  name: string | null;
}

/**
 * For each stage of `next`, the index of the same stage in `prev`, or undefined. By name first;
 * a stage whose name is new (renamed, or unnamed) takes the previous stage at its position,
 * unless that stage was claimed by name.
 */
export function matchStages(prev: readonly StageShape[], next: readonly StageShape[]): (number | undefined)[] {
  const out: (number | undefined)[] = new Array<number | undefined>(next.length).fill(undefined);
  const used = new Array<boolean>(prev.length).fill(false);
  next.forEach((s, i) => {
    if (s.name === null) return;
    const j = prev.findIndex((p, k) => !used[k] && p.name === s.name);
    if (j >= 0) {
      out[i] = j;
      used[j] = true;
    }
  });
  next.forEach((_, i) => {
    if (out[i] === undefined && i < prev.length && !used[i]) {
      out[i] = i;
      used[i] = true;
    }
  });
  return out;
}

/**
 * How alike two instruction texts are, 0..1: the better of a token overlap (Dice coefficient of
 * whitespace-separated words: `npm ci` ↔ `npm ci --omit=dev` is 0.8) and a character similarity
 * (1 − edit distance / longer length: `src/a.txt ./` ↔ `src/b.txt ./` is 0.92). Both are
 * needed: one-word commands differ by characters, long commands by words.
 */
export function textSimilarity(x: string, y: string): number {
  if (x === y) return 1;
  if (!x.length || !y.length) return 0;
  return Math.max(tokenDice(x, y), charSimilarity(x, y));
}

interface Normalized {
  kind: string;
  /** The text without the keyword, whitespace runs collapsed. */
  body: string;
  /** kind + body: equality means "the same line". */
  key: string;
}

function normalize(s: StepShape): Normalized {
  const kind = s.kind.toUpperCase();
  let body = s.text.trim().replace(/\s+/g, ' ');
  const space = body.indexOf(' ');
  const first = space < 0 ? body : body.slice(0, space);
  if (first.toUpperCase() === kind) body = space < 0 ? '' : body.slice(space + 1);
  return { kind, body, key: `${kind}\0${body}` };
}

/** Pairs [prevIndex, nextIndex] of a longest common subsequence by `key`, in increasing order. */
function lcs(a: readonly Normalized[], b: readonly Normalized[]): [number, number][] {
  const n = a.length;
  const m = b.length;
  // len[(j)*(m+1)+i] = LCS length of a[j..] and b[i..]; stages hold tens of steps, so n·m is small.
  const len = new Uint32Array((n + 1) * (m + 1));
  const at = (j: number, i: number) => len[j * (m + 1) + i]!;
  for (let j = n - 1; j >= 0; j--) {
    for (let i = m - 1; i >= 0; i--) {
      len[j * (m + 1) + i] = a[j]!.key === b[i]!.key ? at(j + 1, i + 1) + 1 : Math.max(at(j + 1, i), at(j, i + 1));
    }
  }
  const out: [number, number][] = [];
  let j = 0;
  let i = 0;
  while (j < n && i < m) {
    if (a[j]!.key === b[i]!.key) {
      out.push([j, i]);
      j++;
      i++;
    } else if (at(j + 1, i) >= at(j, i + 1)) j++;
    else i++;
  }
  return out;
}

function tokenDice(x: string, y: string): number {
  const count = new Map<string, number>();
  const tx = x.split(' ');
  const ty = y.split(' ');
  for (const t of tx) count.set(t, (count.get(t) ?? 0) + 1);
  let common = 0;
  for (const t of ty) {
    const c = count.get(t) ?? 0;
    if (c > 0) {
      common++;
      count.set(t, c - 1);
    }
  }
  return (2 * common) / (tx.length + ty.length);
}

function charSimilarity(x: string, y: string): number {
  if (x.length > MAX_EDIT_DISTANCE_LEN || y.length > MAX_EDIT_DISTANCE_LEN) return bigramDice(x, y);
  return 1 - editDistance(x, y) / Math.max(x.length, y.length);
}

function editDistance(x: string, y: string): number {
  let row = Array.from({ length: y.length + 1 }, (_, k) => k);
  for (let p = 1; p <= x.length; p++) {
    const cur = [p];
    for (let q = 1; q <= y.length; q++) {
      cur[q] = Math.min(row[q]! + 1, cur[q - 1]! + 1, row[q - 1]! + (x[p - 1] === y[q - 1] ? 0 : 1));
    }
    row = cur;
  }
  return row[y.length]!;
}

function bigramDice(x: string, y: string): number {
  const grams = (s: string) => {
    const m = new Map<string, number>();
    for (let k = 0; k + 1 < s.length; k++) m.set(s.slice(k, k + 2), (m.get(s.slice(k, k + 2)) ?? 0) + 1);
    return m;
  };
  const gx = grams(x);
  const gy = grams(y);
  let common = 0;
  for (const [g, c] of gy) common += Math.min(c, gx.get(g) ?? 0);
  const total = Math.max(1, x.length - 1) + Math.max(1, y.length - 1);
  return (2 * common) / total;
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let k = from; k < to; k++) out.push(k);
  return out;
}
