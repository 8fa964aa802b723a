/**
 * `RUN --mount=…`: the value is one CSV record (Go's encoding/csv) of `key=value` fields, with a
 * few bare keys (`ro`, `rw`, `required`). Keys and checks follow BuildKit's `parseMount`.
 *
 * At parse time (`deferVariables`), values holding `$` are kept raw and their checks wait for
 * expansion, except `from`, which never supports variables. After expansion everything is
 * checked.
 */
import { suggest } from './diagnostic.js';
import type { Mount } from './types.js';

const TYPES = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'] as const;
const SHARING = ['shared', 'private', 'locked'] as const;
const KEYS = ['type', 'from', 'source', 'target', 'readonly', 'id', 'sharing', 'required', 'mode', 'uid', 'gid', 'src', 'dst', 'destination', 'ro', 'rw', 'readwrite', 'env', 'size'];

/** One CSV record, as Go's `csv.Reader.Read` (no lazy quotes, no trimming). */
export function readCsvRecord(s: string): { ok: true; fields: string[] } | { ok: false; message: string } {
  if (s === '') return { ok: false, message: 'EOF' };
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (s[i] === '"') {
      // Quoted field: "" is a quote; the closing quote must be followed by , or the end.
      let f = '';
      i++;
      for (;;) {
        if (i >= s.length) return { ok: false, message: `parse error on line 1, column ${i + 1}: extraneous or missing " in quoted-field` };
        const c = s[i]!;
        if (c === '"') {
          if (s[i + 1] === '"') {
            f += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        f += c;
        i++;
      }
      fields.push(f);
      if (i >= s.length) return { ok: true, fields };
      if (s[i] !== ',') return { ok: false, message: `parse error on line 1, column ${i + 1}: extraneous or missing " in quoted-field` };
      i++;
      continue;
    }
    const comma = s.indexOf(',', i);
    const f = comma < 0 ? s.slice(i) : s.slice(i, comma);
    const q = f.indexOf('"');
    if (q >= 0) return { ok: false, message: `parse error on line 1, column ${i + q + 1}: bare " in non-quoted-field` };
    fields.push(f);
    if (comma < 0) return { ok: true, fields };
    i = comma + 1;
  }
}

/** Go's `strconv.ParseBool`. */
function parseBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

/** A parsed mount, or why it is invalid (message and hint). */
export type MountResult = { ok: true; mount: Mount } | { ok: false; message: string; hint: string };

/** Expands one field value (used after the ARG/ENV state is known). */
export type ValueExpander = (value: string) => { ok: true; value: string } | { ok: false; message: string };

/**
 * Parse one `--mount` value. With `deferVariables`, values containing `$` are not checked
 * (expansion comes later), but `from=$X` is refused. With `expand`, each field's value (never
 * its key) is expanded first, then checked, as BuildKit does at dispatch.
 */
export function parseMount(value: string, deferVariables: boolean, expand?: ValueExpander): MountResult {
  const rec = readCsvRecord(value);
  if (!rec.ok) return { ok: false, message: `failed to parse csv mounts: ${rec.message}`, hint: 'write --mount=type=cache,target=/path (comma-separated key=value pairs)' };
  const m: Mount = { type: 'bind', target: '', raw: {} };
  let roAuto = true;
  let readonly = false;
  let mode: string | undefined;
  let uid: string | undefined;
  let gid: string | undefined;
  const bad = (message: string, hint: string): MountResult => ({ ok: false, message, hint });
  // No target is allowed: BuildKit then mounts at the working directory (`--mount=from=stage`).
  for (const field of rec.fields) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      m.raw[field] = '';
      if (key === 'readonly' || key === 'ro') {
        readonly = true;
        roAuto = false;
        continue;
      }
      if (key === 'readwrite' || key === 'rw') {
        readonly = false;
        roAuto = false;
        continue;
      }
      if (key === 'required') {
        if (m.type === 'secret' || m.type === 'ssh') {
          m.required = true;
          continue;
        }
        return bad(`unexpected key '${key}' for mount type '${m.type}'`, 'required applies to type=secret and type=ssh mounts');
      }
      return bad(`invalid field '${field}' must be a key=value pair`, 'write key=value, e.g. target=/root/.cache');
    }
    let v = field.slice(eq + 1);
    if (expand && key !== 'from') {
      const x = expand(v);
      if (!x.ok) return bad(x.message, 'check the ${…} syntax and that the variable is declared with ARG or ENV');
      v = x.value;
    }
    m.raw[field.slice(0, eq)] = v;
    if (key === 'from' && /\$[^\n]/.test(v)) {
      return bad(`'from' doesn't support variable expansion, define alias stage instead`, 'add a stage "FROM <image> AS name" and use from=name');
    }
    const deferred = deferVariables && v.includes('$');
    switch (key) {
      case 'type': {
        const t = v.toLowerCase();
        if (deferred) break;
        if (!(TYPES as readonly string[]).includes(t)) {
          const s = suggest(v, TYPES);
          return bad(`unsupported mount type "${v}"`, s ? `did you mean type=${s}?` : `type is one of ${TYPES.join(', ')}`);
        }
        m.type = t as Mount['type'];
        break;
      }
      case 'from':
        m.from = v;
        break;
      case 'source':
      case 'src':
        m.source = v;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.target = v;
        break;
      case 'readonly':
      case 'ro':
      case 'readwrite':
      case 'rw': {
        roAuto = false;
        if (deferred) break;
        const b = parseBool(v);
        if (b === undefined) return bad(`invalid value for ${key}: ${v}`, `write ${key}=true or ${key}=false`);
        readonly = key === 'readonly' || key === 'ro' ? b : !b;
        break;
      }
      case 'required': {
        if (m.type !== 'secret' && m.type !== 'ssh') {
          return bad(`unexpected key '${key}' for mount type '${m.type}'`, 'required applies to type=secret and type=ssh mounts');
        }
        if (deferred) break;
        const b = parseBool(v);
        if (b === undefined) return bad(`invalid value for ${key}: ${v}`, `write ${key}=true or ${key}=false`);
        m.required = b;
        break;
      }
      case 'id':
        m.id = v;
        break;
      case 'sharing': {
        if (deferred) break;
        const s = v.toLowerCase();
        if (!(SHARING as readonly string[]).includes(s)) return bad(`unsupported sharing value "${v}"`, `sharing is one of ${SHARING.join(', ')}`);
        m.sharing = s as Mount['sharing'];
        break;
      }
      case 'mode':
        if (!deferred && !/^[0-7]+$/.test(v)) return bad(`invalid value ${v} for mode`, 'mode is octal, e.g. mode=0644');
        mode = v;
        break;
      case 'uid':
      case 'gid':
        if (!deferred && !(/^[0-9]+$/.test(v) && Number(v) <= 0xffffffff)) return bad(`invalid value ${v} for ${key}`, `${key} is a number, e.g. ${key}=1000`);
        if (key === 'uid') uid = v;
        else gid = v;
        break;
      case 'env':
      case 'size':
        break;
      default: {
        const s = suggest(key, KEYS);
        return bad(`unexpected key '${key}' in '${field}'`, s ? `did you mean ${s}?` : `mount keys are ${KEYS.slice(0, 12).join(', ')}`);
      }
    }
  }
  const fileInfoAllowed = m.type === 'secret' || m.type === 'ssh' || m.type === 'cache';
  for (const [k, v] of [['mode', mode], ['uid', uid], ['gid', gid]] as const) {
    if (v !== undefined && !fileInfoAllowed) return bad(`${k} not allowed for "${m.type}" type mounts`, `${k} applies to cache, secret and ssh mounts`);
  }
  m.readonly = roAuto ? !(m.type === 'cache' || m.type === 'tmpfs') : readonly;
  if (m.sharing !== undefined && m.type !== 'cache') return bad(`invalid cache sharing set for ${m.type} mount`, 'sharing applies to type=cache mounts');
  if (m.type === 'secret') {
    if (m.from !== undefined && m.from !== '') return bad('secret mount should not have a from', 'remove from= from the secret mount');
    if (m.source === undefined && m.target === '' && m.id === undefined) return bad('invalid secret mount. one of source, target required', 'add id=<secret id> or target=/path');
    if (m.source !== undefined && m.id !== undefined) return bad("both source and id can't be set", 'keep one of source= and id=');
  }
  return { ok: true, mount: m };
}
