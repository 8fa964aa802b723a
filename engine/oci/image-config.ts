/**
 * An ImageRecord as an OCI image config and back.
 *
 * Out: `rootfs.diff_ids` in layer order, the config fields in OCI's names (keys sorted, so a
 * record stored in any key order gives the same bytes), history without stratum's own
 * fields (layer digest, size), every date the export epoch.
 *
 * In: only the config fields stratum knows are kept (an unknown field could not be acted on
 * and would make the record lie about what a build does); history rows that are not
 * `empty_layer` are matched with the layers in order, as docker does.
 */
import type { LayerDigest } from '../../cache/digest.js';
import { canonicalJson } from '../../cache/hash.js';
import type { HistoryEntry, ImageConfig, ImageRecord } from '../../cache/store-types.js';
import { hostPlatform, type OciConfigFile, type OciHistory } from './oci-types.js';
import { rfc3339 } from './ref-names.js';

/** The OCI config blob of an image whose layers have these diffIDs (sha256 hex). */
export function ociConfig(image: ImageRecord, diffIds: string[], epochSeconds: number): OciConfigFile {
  const created = rfc3339(epochSeconds);
  const platform = image.platform ?? hostPlatform();
  const history: OciHistory[] = image.history.map((h) => ({
    created,
    created_by: h.created_by,
    ...(h.comment ? { comment: h.comment } : {}),
    ...(h.empty_layer ? { empty_layer: true } : {}),
  }));
  return {
    created,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: JSON.parse(canonicalJson(image.config)) as ImageConfig,
    rootfs: { type: 'layers', diff_ids: diffIds.map((d) => `sha256:${d}`) },
    history,
  };
}

const STRING_LISTS = ['Env', 'Cmd', 'Entrypoint', 'Shell', 'OnBuild'] as const;
const STRINGS = ['WorkingDir', 'User', 'StopSignal'] as const;
const SETS = ['ExposedPorts', 'Volumes'] as const;

const isStringList = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === 'string');

/** The fields of a foreign config that stratum's ImageConfig has, type-checked. */
export function importConfig(raw: unknown): ImageConfig {
  const out: ImageConfig = {};
  if (typeof raw !== 'object' || raw === null) return out;
  const c = raw as Record<string, unknown>;
  for (const k of STRING_LISTS) if (isStringList(c[k])) out[k] = [...(c[k] as string[])];
  for (const k of STRINGS) if (typeof c[k] === 'string' && c[k] !== '') out[k] = c[k] as string;
  for (const k of SETS) {
    const v = c[k];
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) out[k] = Object.fromEntries(Object.keys(v).map((p) => [p, {}]));
  }
  const labels = c.Labels;
  if (typeof labels === 'object' && labels !== null && !Array.isArray(labels)) {
    const entries = Object.entries(labels).filter((e): e is [string, string] => typeof e[1] === 'string');
    if (entries.length) out.Labels = Object.fromEntries(entries);
  }
  const hc = c.Healthcheck;
  if (typeof hc === 'object' && hc !== null) {
    const h = hc as Record<string, unknown>;
    const check: NonNullable<ImageConfig['Healthcheck']> = {};
    if (isStringList(h.Test)) check.Test = [...h.Test];
    for (const k of ['Interval', 'Timeout', 'StartPeriod', 'Retries'] as const) if (typeof h[k] === 'number') check[k] = h[k] as number;
    out.Healthcheck = check;
  }
  return out;
}

/**
 * History rows for imported layers: the config's rows, non-empty ones paired with the
 * layers in order. Layers without a row get one (`created_by` empty), as docker shows them.
 */
export function importHistory(rows: unknown, layers: { digest: LayerDigest; size: number }[], created: string): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  let next = 0;
  for (const r of Array.isArray(rows) ? rows : []) {
    if (typeof r !== 'object' || r === null) continue;
    const h = r as Record<string, unknown>;
    const entry: HistoryEntry = {
      created: typeof h.created === 'string' ? h.created : created,
      created_by: typeof h.created_by === 'string' ? h.created_by : '',
      ...(typeof h.comment === 'string' && h.comment ? { comment: h.comment } : {}),
    };
    if (h.empty_layer === true || next >= layers.length) {
      out.push({ ...entry, empty_layer: true });
      continue;
    }
    const l = layers[next++]!;
    out.push({ ...entry, layer: l.digest, size: l.size });
  }
  for (; next < layers.length; next++) out.push({ created, created_by: '', layer: layers[next]!.digest, size: layers[next]!.size });
  return out;
}
