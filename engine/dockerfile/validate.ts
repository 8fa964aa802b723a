/**
 * Value checks Docker applies to instruction arguments and flags: Go durations (HEALTHCHECK),
 * `--chmod` modes, stop signals, EXPOSE port specs and stage names. Each returns an error
 * message, or null when the value is fine. All are linear scans.
 */

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3, // U+00B5
  'μs': 1e3, // U+03BC
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go's `time.ParseDuration`, in nanoseconds, or null when the text is not a duration. */
export function parseGoDuration(s: string): number | null {
  let i = 0;
  let sign = 1;
  if (s[0] === '-' || s[0] === '+') {
    sign = s[0] === '-' ? -1 : 1;
    i = 1;
  }
  if (s.slice(i) === '0') return 0;
  if (i >= s.length) return null;
  let total = 0;
  while (i < s.length) {
    const numStart = i;
    while (i < s.length && s[i]! >= '0' && s[i]! <= '9') i++;
    const intPart = s.slice(numStart, i);
    let frac = '';
    if (s[i] === '.') {
      i++;
      const f = i;
      while (i < s.length && s[i]! >= '0' && s[i]! <= '9') i++;
      frac = s.slice(f, i);
    }
    if (intPart === '' && frac === '') return null;
    const unitStart = i;
    while (i < s.length && s[i] !== '.' && !(s[i]! >= '0' && s[i]! <= '9')) i++;
    const unit = s.slice(unitStart, i);
    const scale = DURATION_UNITS[unit];
    if (scale === undefined) return null;
    total += Number(`${intPart || '0'}.${frac || '0'}`) * scale;
  }
  return sign * total;
}

/** HEALTHCHECK intervals: 0 (meaning "the default") or at least 1 ms, as Docker requires. */
export function checkHealthDuration(flag: string, value: string): string | null {
  const d = parseGoDuration(value);
  if (d === null) return `invalid duration "${value}" for --${flag}`;
  if (d !== 0 && d < 1e6) return `Interval "${flag}" cannot be less than 1ms`;
  return null;
}

/** `--chmod`: octal up to 07777, or a symbolic mode such as `u+x,go=r`. */
export function checkChmod(value: string): string | null {
  const octal = /^[0-7]+$/.test(value) ? Number.parseInt(value, 8) : NaN;
  if (!Number.isNaN(octal)) return octal <= 0o7777 ? null : chmodError(value);
  const clause = /^[ugoa]*(?:[-+=](?:[rwxXst]*|[ugo]))+$/;
  if (value !== '' && value.split(',').every((c) => clause.test(c))) return null;
  return chmodError(value);
}

function chmodError(value: string): string {
  return `invalid chmod parameter: '${value}'. it should be octal string and between 0 and 07777`;
}

const SIGNALS = new Set([
  'ABRT', 'ALRM', 'BUS', 'CHLD', 'CLD', 'CONT', 'FPE', 'HUP', 'ILL', 'INT', 'IO', 'IOT', 'KILL', 'PIPE', 'POLL',
  'PROF', 'PWR', 'QUIT', 'SEGV', 'STKFLT', 'STOP', 'SYS', 'TERM', 'TRAP', 'TSTP', 'TTIN', 'TTOU', 'URG', 'USR1',
  'USR2', 'VTALRM', 'WINCH', 'XCPU', 'XFSZ', 'RTMIN', 'RTMAX',
]);
for (let n = 1; n <= 15; n++) {
  SIGNALS.add(`RTMIN+${n}`);
  SIGNALS.add(`RTMAX-${n}`);
}

/** STOPSIGNAL: a number 1–255, or a signal name with or without `SIG`, any case. */
export function checkSignal(value: string): string | null {
  if (/^[0-9]+$/.test(value)) {
    const n = Number(value);
    return n >= 1 && n <= 255 ? null : `invalid signal: ${value}`;
  }
  const name = value.toUpperCase().replace(/^SIG/, '');
  return SIGNALS.has(name) ? null : `invalid signal: ${value}`;
}

/** One EXPOSE word: `[ip:][hostport:]port[-end][/tcp|udp|sctp]`. */
export function checkPortSpec(value: string): string | null {
  let spec = value;
  const slash = spec.lastIndexOf('/');
  if (slash >= 0) {
    const proto = spec.slice(slash + 1).toLowerCase();
    if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') return `invalid proto: ${spec.slice(slash + 1)}`;
    spec = spec.slice(0, slash);
  }
  const port = spec.slice(spec.lastIndexOf(':') + 1);
  if (port === '') return `no port specified: ${value}`;
  const m = /^([0-9]+)(?:-([0-9]+))?$/.exec(port);
  if (!m) return `invalid containerPort: ${port}`;
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  if (start > 65535 || end > 65535) return `invalid containerPort: ${port}`;
  if (end < start) return `invalid range specified for containerPort: ${port}`;
  return null;
}

/** Stage names (after lower-casing): a letter, then letters, digits, `-`, `_`, `.`. */
export function checkStageName(name: string): boolean {
  return /^[a-z][a-z0-9-_.]*$/.test(name);
}
