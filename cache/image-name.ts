/**
 * Image names: docker references (`webapp:dev`, `registry.example:5000/x/y:1.0`,
 * `x@sha256:…`), checked with the grammar of distribution/reference, and encoded into a
 * safe, case-proof file name.
 */
import { StoreError } from './store-types.js';
import { xxh64 } from './hash.js';

// The grammar of github.com/distribution/reference (reference.go / regexp.go).
const alnum = '[a-z0-9]+';
const separator = '(?:[._]|__|-+)';
const pathComponent = `${alnum}(?:${separator}${alnum})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const host = `(?:${domainComponent}(?:\\.${domainComponent})*|\\[[a-fA-F0-9:]+\\])`;
const domain = `${host}(?::[0-9]+)?`;
const repo = `(?:${domain}/)?${pathComponent}(?:/${pathComponent})*`;
const tag = '[\\w][\\w.-]{0,127}';
const digest = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(`^(${repo})(?::(${tag}))?(?:@(${digest}))?$`);
/** distribution/reference NameTotalLengthMax. */
const NAME_MAX = 255;

/**
 * The canonical form of an image name: the name itself, with `:latest` added when it has
 * neither tag nor digest (as docker does; `webapp` and `webapp:latest` are one image).
 * Throws StoreError('EINVALID') with a hint when `name` is not a docker reference.
 */
export function normalizeImageName(name: string): string {
  const m = REFERENCE.exec(name);
  if (!m || m[1]!.length > NAME_MAX) {
    const hint = name !== name.toLowerCase() ? ' (repository names must be lower-case)' : '';
    throw new StoreError(
      'EINVALID',
      `invalid image name ${JSON.stringify(name)}${hint}: use [registry/]path[:tag], e.g. webapp:dev or registry.example/team/app:1.0`,
      { name },
    );
  }
  return m[2] === undefined && m[3] === undefined ? `${name}:latest` : name;
}

const SAFE = /[a-z0-9._-]/;
const MAX_FILE_STEM = 200;

/**
 * A file name stem for a normalized image name: `[a-z0-9._-]` kept, every other character
 * (including upper case, so case-insensitive file systems cannot merge two tags) written as
 * `%hh` per UTF-8 byte. Injective, because `%` is itself escaped. Names whose encoding is
 * too long for a file name are cut and suffixed with `~<xxh64 of the name>`; the record
 * inside the file holds the full name, and readers check it.
 */
export function imageFileStem(normalized: string): string {
  let out = '';
  for (const ch of normalized) {
    if (SAFE.test(ch)) out += ch;
    else for (const b of Buffer.from(ch)) out += `%${b.toString(16).padStart(2, '0')}`;
  }
  return out.length <= MAX_FILE_STEM ? out : `${out.slice(0, 150)}~${xxh64(normalized)}`;
}
