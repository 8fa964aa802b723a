/**
 * `stratum pull NAME`, `stratum push NAME [TARGET]` and `stratum login REGISTRY -u USER
 * --password-stdin`: the registry commands (engine/pull-image.ts, engine/push-image.ts,
 * engine/registry/login.ts). Credentials are docker's (~/.docker/config.json), shared with
 * docker and skopeo.
 */
import { EXIT } from '../../engine/errors.js';
import { parsePlatform } from '../../engine/platform.js';
import { usageError } from '../usage.js';
import { openStore, parseCommand, withStoreErrors, type CommandIo } from './common.js';

export const PULL_USAGE = `Usage: stratum pull NAME[:TAG|@sha256:DIGEST] [--platform OS/ARCH] [--insecure-registry HOST] [--cache-dir DIR]

Pull an image from a registry into the store (every blob verified), tagged NAME.`;
export const PUSH_USAGE = `Usage: stratum push NAME [REGISTRY/REPO:TAG] [--insecure-registry HOST] [--cache-dir DIR]

Push an image of the store to a registry (to NAME itself, or to the second argument).
Blobs the registry already has are not uploaded again.`;
export const LOGIN_USAGE = `Usage: stratum login REGISTRY -u USER --password-stdin

Check the credentials against the registry and save them in ~/.docker/config.json.`;

const registryFlags = { 'insecure-registry': { type: 'string', multiple: true } } as const;

export async function pullCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, 'pull', { ...registryFlags, platform: { type: 'string' } });
  if (values.help) return void io.stdout.write(PULL_USAGE + '\n'), EXIT.ok;
  if (positionals.length !== 1) throw usageError(`pull: expected one image NAME, got ${positionals.length}`, 'write stratum pull localhost:5000/app:1');
  const platformText = values.platform as string | undefined;
  const platform = platformText !== undefined ? parsePlatform(platformText) : undefined;
  if (platformText !== undefined && !platform) throw usageError(`pull: --platform takes os/arch[/variant] (got "${platformText}")`, 'e.g. --platform linux/amd64');
  return withStoreErrors(async () => {
    const store = openStore(values['cache-dir'] as string | undefined);
    const { pullImage } = await import('../../engine/pull-image.js');
    const insecure = values['insecure-registry'] as string[] | undefined;
    const r = await pullImage(store, positionals[0]!, { ...(platform ? { platform } : {}), ...(insecure ? { insecure } : {}) });
    io.stdout.write(`Pulled ${r.name}: ${r.manifestDigest}\n`);
    return EXIT.ok;
  });
}

export async function pushCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, 'push', registryFlags);
  if (values.help) return void io.stdout.write(PUSH_USAGE + '\n'), EXIT.ok;
  if (positionals.length < 1 || positionals.length > 2) throw usageError(`push: expected NAME [TARGET], got ${positionals.length} arguments`, 'write stratum push localhost:5000/app:1');
  return withStoreErrors(async () => {
    const store = openStore(values['cache-dir'] as string | undefined, true);
    const { normalizeRef } = await import('../../engine/load.js');
    const name = positionals[0]!;
    const image = store.getImage(normalizeRef(name));
    if (!image) throw usageError(`push: no image ${name} in the store`, 'build it with -t NAME, pull it, or load it first (see `stratum images`)');
    const { pushImage } = await import('../../engine/push-image.js');
    const insecure = values['insecure-registry'] as string[] | undefined;
    const r = await pushImage(store, image, positionals[1] ?? name, insecure ? { insecure } : {});
    io.stdout.write(`Pushed ${r.name}: ${r.digest} (${r.uploaded} blobs uploaded, ${r.existed} already there)\n`);
    return EXIT.ok;
  });
}

export async function loginCommand(argv: string[], io: CommandIo & { stdin: NodeJS.ReadableStream }): Promise<number> {
  const { values, positionals } = parseCommand(argv, 'login', { username: { type: 'string', short: 'u' }, 'password-stdin': { type: 'boolean' }, ...registryFlags });
  if (values.help) return void io.stdout.write(LOGIN_USAGE + '\n'), EXIT.ok;
  if (positionals.length !== 1) throw usageError(`login: expected one REGISTRY, got ${positionals.length}`, 'write echo "$TOKEN" | stratum login registry.example -u USER --password-stdin');
  const username = values.username as string | undefined;
  if (!username || !values['password-stdin']) throw usageError('login: needs -u USER and --password-stdin', 'passwords are read from stdin only, never from the command line');
  let password = '';
  for await (const c of io.stdin) password += String(c);
  password = password.replace(/\r?\n$/, '');
  if (!password) throw usageError('login: no password on stdin');
  return withStoreErrors(async () => {
    const { login } = await import('../../engine/registry/login.js');
    const insecure = values['insecure-registry'] as string[] | undefined;
    await login(positionals[0]!, username, password, insecure ? { insecure } : {});
    io.stdout.write('Login Succeeded\n');
    return EXIT.ok;
  });
}
