/**
 * Shared rig of the reliability suite: a project whose RUN makes the race window real, the
 * real CLI as child processes, trees compared by paths, types, modes and contents, and the
 * process table checked for what a RUN left running.
 *
 * Rounds: CI runs few (bounded to ~60 s a file on 2 cores); `STRATUM_STRESS=1`
 * (`npm run stress`) runs many.
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Rig } from '../util/rig.js';
import { runCli, startCli, type CliResult } from '../util/cli.js';

export const STRESS = process.env.STRATUM_STRESS === '1';

/** A marker that only this test process's RUNs carry on their command line. */
export const MARKER = `stratum-reliability-${process.pid}-${randomBytes(3).toString('hex')}`;

/**
 * FROM scratch with host RUNs. The first RUN writes files named after the build-arg, sleeps
 * (so concurrent builds overlap inside it) and reads the sources; a shared workspace would
 * leak one build's files into another's layer. ROUND is in the RUNs' environment, hence in
 * their keys, but not in their output: a new ROUND reruns every RUN with the same result.
 */
export function dockerfile(sleep = '0.3'): string {
  return `FROM scratch
ARG WHO=nobody
ARG ROUND=0
WORKDIR /app
COPY src/ ./src/
RUN mkdir -p out && for i in 1 2 3 4 5 6; do echo "$WHO $i" > out/who-$WHO-$i.txt; done && sleep ${sleep} && cat src/f*.txt > out/all.txt && chmod 750 out/who-$WHO-1.txt # ${MARKER}
RUN echo "done $WHO" > stamp.txt && ls out > list.txt && ln -s out/all.txt all-link
`;
}

/**
 * Write the project: `files` small sources (f1…fN). `variant` changes src/f2.txt, and with
 * `allVary` every file, so that moving the workspace between variants is a long sync.
 */
export function writeProject(rig: Rig, opts: { files?: number; variant?: number; sleep?: string; allVary?: boolean } = {}): void {
  rig.write({ 'ctx/Dockerfile': dockerfile(opts.sleep) });
  for (let i = 1; i <= (opts.files ?? 4); i++) rig.write({ [`ctx/src/f${i}.txt`]: `file ${i}\n` });
  setVariant(rig, opts.variant ?? 0, opts.allVary ? (opts.files ?? 4) : 0);
}

/** With `allOf`, variant v (0, 1, 2) also changes the files f<i> with i % 3 === v: moving
 *  between two variants rewrites two thirds of the sources, and any two moves share files
 *  with a third, so a sync cut short and then trusted leaves files no later diff touches. */
export function setVariant(rig: Rig, variant: number, allOf = 0): void {
  writeFileSync(rig.path('ctx/src/f2.txt'), `file 2 variant ${variant}\n`);
  for (let i = 1; i <= allOf; i++) if (i !== 2) writeFileSync(rig.path(`ctx/src/f${i}.txt`), i % 3 === variant ? `file ${i} variant ${variant}\n` : `file ${i}\n`);
}

export function buildArgs(store: string, who: string, out: string, ctx: string, round = 0): string[] {
  return ['build', '--progress=json', '--cache-dir', store, '--build-arg', `WHO=${who}`, '--build-arg', `ROUND=${round}`, '-o', `type=local,dest=${out}`, ctx];
}

export function build(store: string, who: string, out: string, ctx: string, round = 0): Promise<CliResult> {
  return runCli(buildArgs(store, who, out, ctx, round));
}

export { startCli, runCli };

/** A tree as text rows: `path type mode content|target`, sorted. */
export function tree(dir: string): string[] {
  const rows: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const abs = join(dir, r);
      const st = lstatSync(abs);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        rows.push(`${r} dir ${mode}`);
        walk(r);
      } else if (st.isSymbolicLink()) rows.push(`${r} symlink -> ${readlinkSync(abs)}`);
      else rows.push(`${r} file ${mode} ${JSON.stringify(readFileSync(abs, 'utf8'))}`);
    }
  };
  walk('');
  return rows;
}

/** Processes whose command line carries MARKER (the RUNs of this test process). */
export function strayRuns(): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,stat,args'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(MARKER) && !/\sZ/.test(l.slice(0, 16)));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reference outputs: the same build made alone with a fresh store, memoized by key. */
export class References {
  readonly #trees = new Map<string, string[]>();
  #n = 0;
  async get(who: string, variant: number, setup: (r: Rig) => void): Promise<string[]> {
    const key = `${who}/${variant}`;
    const known = this.#trees.get(key);
    if (known) return known;
    const r = new Rig('stratum-ref-');
    try {
      setup(r);
      const out = r.path('out');
      const res = await build(r.path('store'), who, out, r.path('ctx'));
      if (res.code !== 0) throw new Error(`reference build ${key} failed: ${res.stderr}`);
      const t = tree(out);
      this.#trees.set(key, t);
      this.#n++;
      return t;
    } finally {
      r.cleanup();
    }
  }
  get built(): number {
    return this.#n;
  }
}
