/**
 * What a build leaves for CI besides its log: `--metadata-file FILE` (the result as JSON, as
 * `docker buildx build --metadata-file` writes it, plus stratum's counts) and, when
 * `$GITHUB_STEP_SUMMARY` names a file, a markdown summary appended to it (GitHub shows it on
 * the job's page). Both are written once the build has ended, whatever its outcome.
 */
import { appendFileSync, renameSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import type { BuildResult } from '../../engine/build.js';
import { formatDuration } from '../ui/format.js';

export interface BuildMetadata {
  ok: boolean;
  /** buildx's keys: the tags, comma separated; the OCI manifest's digest (`sha256:…`, what
   *  `skopeo inspect` and a registry report for the image `-o type=oci` or `--push` writes),
   *  its descriptor, and the config blob's digest. */
  'image.name'?: string;
  'containerimage.digest'?: string;
  'containerimage.descriptor'?: { mediaType: string; digest: string; size: number };
  'containerimage.config.digest'?: string;
  /** stratum's own identity of the image: the chain digest of its layers (`stratum images`' IMAGE ID). */
  image?: { chain: string; layers: string[]; config: unknown };
  tags: string[];
  outputs: { type: string; dest: string }[];
  hits: number;
  misses: number;
  ms: number;
  savedMs: number;
  error?: { code: string; message: string };
}

export interface ImageDigests {
  manifest: { mediaType: string; digest: string; size: number };
  config: string;
}

/** The metadata of a finished build; `digests` are the OCI digests of its image (engine/oci/export.ts imageDigests). */
export function buildMetadata(result: BuildResult, tags: string[], outputs: { type: string; dest: string }[], digests?: ImageDigests): BuildMetadata {
  const img = result.ok ? result.image : undefined;
  return {
    ok: result.ok,
    ...(result.ok && tags.length ? { 'image.name': tags.join(',') } : {}),
    ...(img && digests
      ? {
          'containerimage.digest': digests.manifest.digest,
          'containerimage.descriptor': { mediaType: digests.manifest.mediaType, digest: digests.manifest.digest, size: digests.manifest.size },
          'containerimage.config.digest': digests.config,
        }
      : {}),
    ...(img ? { image: { chain: img.chain, layers: img.layers, config: img.config } } : {}),
    tags: result.ok ? tags : [],
    outputs: result.ok ? outputs.map((o) => ({ type: o.type, dest: o.dest })) : [],
    hits: result.hits,
    misses: result.misses,
    ms: Math.round(result.ms),
    savedMs: Math.round(result.savedMs),
    ...(result.error ? { error: { code: result.error.code, message: result.error.message } } : {}),
  };
}

/** Write FILE atomically: a temporary file in the same directory, renamed into place, so that
 *  a reader (the next CI step) sees the old file or the whole new one, never half of it. */
export function writeMetadataFile(file: string, meta: BuildMetadata): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, JSON.stringify(meta, null, 2) + '\n', { flag: 'w' });
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** The markdown appended to `$GITHUB_STEP_SUMMARY`. */
export function stepSummary(meta: BuildMetadata, target: string): string {
  const state = meta.ok ? '✅ built' : '❌ failed';
  const lines = [
    `### stratum build ${target}: ${state} in ${formatDuration(meta.ms)}`,
    '',
    '| cache hits | misses | time saved |',
    '| ---: | ---: | ---: |',
    `| ${meta.hits} | ${meta.misses} | ${formatDuration(meta.savedMs)} |`,
    '',
  ];
  if (meta['containerimage.digest']) lines.push(`Image \`${meta['containerimage.digest']}\``, '');
  for (const t of meta.tags) lines.push(`- tag \`${t}\``);
  for (const o of meta.outputs) lines.push(`- output ${o.type} \`${o.dest}\``);
  if (meta.error) lines.push(`Error (${meta.error.code}): ${meta.error.message}`);
  return lines.join('\n').trimEnd() + '\n\n';
}

/** Append the summary when GitHub Actions asks for one; never fails the build over it. */
export function appendStepSummary(meta: BuildMetadata, target: string, env: NodeJS.ProcessEnv, warn: (line: string) => void): void {
  const file = env.GITHUB_STEP_SUMMARY;
  if (!file || env.STRATUM_NO_SUMMARY === '1') return;
  try {
    appendFileSync(file, stepSummary(meta, target));
  } catch (err) {
    warn(`stratum: could not append the job summary to ${file}: ${(err as Error).message}`);
  }
}
