/** What the container commands share: the store, the sandbox, finding a container. */
import type { LocalStore } from '../../cache/store-types.js';
import { EXIT, UserError } from '../../engine/errors.js';
import type { SandboxCaps } from '../../engine/sandbox/detect.js';
import type { ContainerRecord } from '../../engine/containers/records.js';
import { openStore } from './common.js';

export async function containerEnv(cacheDir: string | undefined): Promise<{ store: LocalStore; caps: SandboxCaps }> {
  const store = openStore(cacheDir);
  const { detectSandbox } = await import('../../engine/sandbox/detect.js');
  const d = await detectSandbox({ storeRoot: store.root });
  if (!d.ok) throw new UserError('CONTAINER', `containers need the sandbox: ${d.error.message}`, d.error.hint.replace(/; or build with --executor=host.*$/, ''), EXIT.io);
  return { store, caps: d.caps };
}

export async function mustFind(store: LocalStore, ref: string): Promise<ContainerRecord> {
  const { findContainer } = await import('../../engine/containers/records.js');
  const c = findContainer(store, ref);
  if (!c) throw new UserError('CONTAINER', `no such container: ${ref}`, 'see `stratum ps -a`', EXIT.usage);
  return c;
}

/**
 * Docker-style argv: flags up to the first positional, everything after it is the command.
 * `valued` lists the flags that take a value (`-e X`, `-e=X`, `--env X`, `--env=X`).
 */
export function splitArgs(argv: string[], valued: Record<string, string>, bools: Record<string, string>, command: string) {
  const values: Record<string, string[]> = {};
  const flags = new Set<string>();
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    let name = a;
    let val: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      name = a.slice(0, eq);
      val = a.slice(eq + 1);
    }
    // Bundled short booleans: -dit, -it.
    if (!a.startsWith('--') && a.length > 2 && !valued[a.slice(0, 2)]) {
      for (const ch of a.slice(1)) {
        const key = bools[`-${ch}`];
        if (!key) throw new UserError('USAGE', `${command}: unknown flag -${ch}`, `run \`stratum ${command} --help\``, EXIT.usage);
        flags.add(key);
      }
      continue;
    }
    if (!a.startsWith('--') && a.length > 2) {
      name = a.slice(0, 2);
      val = a.slice(2);
    }
    if (valued[name]) {
      if (val === undefined) {
        val = argv[++i];
        if (val === undefined) throw new UserError('USAGE', `${command}: ${name} needs a value`, `run \`stratum ${command} --help\``, EXIT.usage);
      }
      (values[valued[name]!] ??= []).push(val);
    } else if (bools[name]) {
      if (val !== undefined) {
        if (val !== 'true' && val !== 'false') throw new UserError('USAGE', `${command}: ${name} takes no value`, undefined, EXIT.usage);
        if (val === 'true') flags.add(bools[name]!);
      } else flags.add(bools[name]!);
    } else throw new UserError('USAGE', `${command}: unknown flag ${name}`, `run \`stratum ${command} --help\``, EXIT.usage);
  }
  return { values, flags, rest: argv.slice(i) };
}
