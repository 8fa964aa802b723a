/**
 * Time to the first real frame of `stratum build --progress=tty` (issue 12, item 9), under a
 * pseudo-terminal made by script(1), against the floor of the same run: `node -e 0` under
 * the same script(1), so that node's own start-up and the pty are counted once, on this
 * machine, now. Runs are paired (floor, cached build, build that loads Ink) and the medians
 * reported as ratios to the floor's.
 *
 * - first frame: the first output that shows a step row (`[i/n]`), i.e. the real UI state,
 *   not a placeholder;
 * - exit: the cached build's process end (it never loads Ink: cli/reporters/attach.ts);
 * - ink: a build whose RUN misses loads Ink; Ink's first frame is where it hides the cursor,
 *   the second `ESC[?25l` of the stream (the early painter writes the first), or its first
 *   synchronized update.
 *
 * Usage: node dist/bench/tty-first-frame.js [runs] [OTHER_CLI]   (default 9 runs; with
 * OTHER_CLI, e.g. an older build's dist/cli/main.js, its cached build is timed in the same pairs)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const HIDE = '\x1b[?25l';
/** Ink 6 wraps some frames in a synchronized update. */
const SYNC = '\x1b[?2026h';

interface Sample {
  firstFrame?: number;
  ink?: number;
  exit: number;
}

function underPty(command: string): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let out = '';
    const s: Partial<Sample> = {};
    // script(1) makes a pty of size 0×0 when its own stdin is no terminal: give it one.
    const child = spawn('script', ['-qfec', `stty rows 30 cols 100; ${command}`, '/dev/null'], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, COLUMNS: '100', LINES: '30', CI: '' } });
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const now = performance.now() - t0;
      if (s.firstFrame === undefined && /\[\d+\/\d+\]/.test(out)) s.firstFrame = now;
      if (s.ink === undefined && (out.split(HIDE).length > 2 || out.includes(SYNC))) s.ink = now;
    });
    child.on('error', reject);
    child.on('close', () => resolve({ ...s, exit: performance.now() - t0 }));
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

/** ms to import `file` in a fresh node, as that node measures it. */
function importMs(file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = '';
    const child = spawn(process.execPath, ['-e', `const t=performance.now();import(${JSON.stringify(file)}).then(()=>console.log(performance.now()-t))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', () => resolve(Number(out.trim())));
  });
}

/** Loading the UI from its bundle against loading its ~60 packages module by module, paired. */
export async function measureUiLoad(runs: number): Promise<{ bundledMs: number; unbundledMs: number }> {
  const bundled: number[] = [];
  const unbundled: number[] = [];
  for (let i = 0; i < runs; i++) {
    bundled.push(await importMs(fileURLToPath(new URL('../cli/ui/render.bundle.js', import.meta.url))));
    unbundled.push(await importMs(fileURLToPath(new URL('../cli/ui/render.js', import.meta.url))));
  }
  return { bundledMs: median(bundled), unbundledMs: median(unbundled) };
}

export async function measureTtyFirstFrame(runs: number, otherCli?: string): Promise<{ floorMs: number; firstFrameMs: number; exitMs: number; inkMs: number; other?: { firstFrameMs: number; exitMs: number } }> {
  const dir = mkdtempSync(join(tmpdir(), 'stratum-ff-'));
  try {
    mkdirSync(join(dir, 'ctx'));
    writeFileSync(join(dir, 'ctx', 'Dockerfile'), 'FROM scratch\nCOPY a /\nENV X=1\nRUN cp a b\nCOPY a /c\nRUN cp c d\n');
    writeFileSync(join(dir, 'ctx', 'a'), 'a\n');
    const store = join(dir, 'store');
    const cached = `${process.execPath} ${CLI} build --progress=tty --cache-dir ${store} ${join(dir, 'ctx')}`;
    // A RUN that misses every time (an ARG that changes) makes the UI load Ink.
    const missing = (i: number) => `${process.execPath} ${CLI} build --progress=tty --cache-dir ${store} --build-arg N=${i} -f ${join(dir, 'ctx', 'Dockerfile.miss')} ${join(dir, 'ctx')}`;
    writeFileSync(join(dir, 'ctx', 'Dockerfile.miss'), 'FROM scratch\nCOPY a /\nARG N\nRUN echo $N > n && sleep 0.8\n');
    const otherCached = otherCli && `${process.execPath} ${otherCli} build --progress=tty --cache-dir ${join(dir, 'other-store')} ${join(dir, 'ctx')}`;
    await underPty(cached); // warm the cache
    if (otherCached) await underPty(otherCached);
    const otherFirst: number[] = [];
    const otherExit: number[] = [];
    const floor: number[] = [];
    const first: number[] = [];
    const exit: number[] = [];
    const ink: number[] = [];
    for (let i = 0; i < runs; i++) {
      floor.push((await underPty(`${process.execPath} -e 0`)).exit);
      const c = await underPty(cached);
      if (c.firstFrame !== undefined) first.push(c.firstFrame);
      exit.push(c.exit);
      if (otherCached) {
        const o = await underPty(otherCached);
        if (o.firstFrame !== undefined) otherFirst.push(o.firstFrame);
        otherExit.push(o.exit);
      }
      const m = await underPty(missing(i));
      if (m.ink !== undefined) ink.push(m.ink);
    }
    return { floorMs: median(floor), firstFrameMs: median(first), exitMs: median(exit), inkMs: median(ink), ...(otherCli ? { other: { firstFrameMs: median(otherFirst), exitMs: median(otherExit) } } : {}) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const runs = Number(process.argv[2] ?? 9);
  const r = await measureTtyFirstFrame(runs, process.argv[3]);
  const x = (ms: number) => `${ms.toFixed(0)} ms (${(ms / r.floorMs).toFixed(2)}× the floor)`;
  console.log(`tty first frame, ${runs} paired runs, medians; floor \`node -e 0\` under script(1): ${r.floorMs.toFixed(0)} ms`);
  console.log(`  cached build, first frame with the step rows: ${x(r.firstFrameMs)}`);
  console.log(`  cached build, exit:                           ${x(r.exitMs)}`);
  console.log(`  build with a miss, Ink's first frame:        ${x(r.inkMs)}`);
  if (r.other) console.log(`  ${process.argv[3]}, cached build: first frame ${x(r.other.firstFrameMs)}, exit ${x(r.other.exitMs)}`);
  const u = await measureUiLoad(runs);
  console.log(`UI import in a fresh node: bundled ${u.bundledMs.toFixed(0)} ms, unbundled ${u.unbundledMs.toFixed(0)} ms (${(u.bundledMs / u.unbundledMs).toFixed(2)}×)`);
}
