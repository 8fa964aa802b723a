/**
 * `--cache-from` on a fresh machine, everything cached (issue 10, "Performance"), against a
 * Debian `docker-registry` started on 127.0.0.1 for the run:
 *
 * - machine A builds a context of a few incompressible files (STRATUM_BENCH_CACHE_MIB in all,
 *   default 64) and 1,000 small ones, one COPY each, pushes the image (`-t … --push`) and
 *   exports the step cache (`--cache-to type=registry,mode=max`);
 * - each run, paired and in alternating order: a fresh store builds with `--cache-from` and
 *   `-o type=oci,dest=DIR,tar=false` (every step hits, every layer downloaded, verified and
 *   imported, the layout written), and `skopeo copy docker://…:1 oci:DIR` of the same image
 *   (the floor: the same blobs downloaded and written once). Target: ratio ≤ 1.5;
 * - the same build without output (no layer downloaded: the cache's manifest and config only);
 * - `stratum push` of the image to a new tag of the same repository (every blob there already:
 *   one HEAD each, no upload), against `skopeo copy docker://…:1 docker://…:tag`.
 *
 * Engine-free: the CLI and skopeo are child processes.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRegistry } from '../test/registry/kit.js';
import { runCliBuild } from './child.js';
import { median } from './stats.js';

export interface CacheFromResult {
  runs: number;
  mib: number;
  /** Medians, ms: the cache-from build with an OCI output, and skopeo copy of the image. */
  buildMs: number;
  skopeoMs: number;
  /** Median of the paired ratios build / skopeo. */
  ratio: number;
  /** The build without output, and the push of an image the registry has. */
  noOutputMs: number;
  pushMs: number;
  skopeoPushMs: number;
  pushRatio: number;
}

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    let err = '';
    const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${err.trim().split('\n').slice(-3).join(' | ')}`))));
  });
}

/** `buildOnly`: only the paired build / skopeo runs (the suite's target row); the no-output
 *  build and the push are not measured and read NaN. */
export async function measureCacheFrom(o: { cli: string; scratch: string; runs: number; mib?: number; buildOnly?: boolean }): Promise<CacheFromResult> {
  const mib = o.mib ?? 64;
  const reg = await startRegistry();
  try {
    const ctx = join(o.scratch, 'ctx');
    mkdirSync(join(ctx, 'small'), { recursive: true });
    const big = 4;
    let dockerfile = 'FROM scratch\n';
    for (let i = 1; i <= big; i++) {
      writeFileSync(join(ctx, `l${i}.bin`), randomBytes(Math.round((mib * 1024 * 1024) / big)));
      dockerfile += `COPY l${i}.bin /l${i}.bin\n`;
    }
    for (let i = 0; i < 1000; i++) writeFileSync(join(ctx, 'small', `f${i}.txt`), randomBytes(512).toString('hex'));
    dockerfile += 'COPY small/ /small/\n';
    writeFileSync(join(ctx, 'Dockerfile'), dockerfile);
    const image = `${reg.host}/bench/img`;
    const cacheRef = `type=registry,ref=${image}:cache`;
    const storeA = join(o.scratch, 'storeA');
    const a = await runCliBuild({ cli: o.cli, args: ['--cache-dir', storeA, '-t', `${image}:1`, '--push', '--cache-to', `${cacheRef},mode=max`, ctx] });
    if (!a.ok) throw new Error(`machine A's build failed (exit ${a.code}): ${a.stderr.trim().split('\n').slice(-5).join(' | ')}`);

    const builds: number[] = [];
    const floors: number[] = [];
    const ratios: number[] = [];
    const noOut: number[] = [];
    const pushes: number[] = [];
    const skPushes: number[] = [];
    const pushRatios: number[] = [];
    for (let i = 0; i <= o.runs; i++) {
      const dir = join(o.scratch, `run-${i}`);
      mkdirSync(dir, { recursive: true });
      const build = async () => {
        const b = await runCliBuild({ cli: o.cli, args: ['--cache-dir', join(dir, 'store'), '--cache-from', cacheRef, '-o', `type=oci,dest=${join(dir, 'out')},tar=false`, ctx] });
        if (!b.ok || b.cachedSteps !== b.keyedSteps) throw new Error(`the --cache-from build failed or missed (exit ${b.code}, ${b.cachedSteps}/${b.keyedSteps} hits): ${b.stderr.trim().split('\n').slice(-5).join(' | ')}`);
        return b.wallMs;
      };
      const copy = () => timed('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${image}:1`, `oci:${join(dir, 'skopeo')}:1`]);
      // Alternate who goes first, so neither always gets the warmer page cache.
      let b: number;
      let f: number;
      if (i % 2) {
        b = await build();
        f = await copy();
      } else {
        f = await copy();
        b = await build();
      }
      if (o.buildOnly) {
        rmSync(dir, { recursive: true, force: true });
        if (i > 0) {
          builds.push(b);
          floors.push(f);
          ratios.push(b / f);
        }
        continue;
      }
      const n = await runCliBuild({ cli: o.cli, args: ['--cache-dir', join(dir, 'store-noout'), '--cache-from', cacheRef, ctx] });
      if (!n.ok) throw new Error(`the no-output build failed (exit ${n.code})`);
      const push = await timed(process.execPath, [o.cli, 'push', '--cache-dir', storeA, `${image}:1`, `${image}:p${i}`]);
      const skPush = await timed('skopeo', ['copy', '-q', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${image}:1`, `docker://${image}:s${i}`]);
      rmSync(dir, { recursive: true, force: true });
      if (i === 0) continue; // warm-up: page cache, the registry's first reads
      builds.push(b);
      floors.push(f);
      ratios.push(b / f);
      noOut.push(n.wallMs);
      pushes.push(push);
      skPushes.push(skPush);
      pushRatios.push(push / skPush);
    }
    return { runs: o.runs, mib, buildMs: median(builds), skopeoMs: median(floors), ratio: median(ratios), noOutputMs: o.buildOnly ? NaN : median(noOut), pushMs: o.buildOnly ? NaN : median(pushes), skopeoPushMs: o.buildOnly ? NaN : median(skPushes), pushRatio: o.buildOnly ? NaN : median(pushRatios) };
  } finally {
    await reg.stop();
  }
}
