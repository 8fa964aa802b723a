/**
 * `login(registry, username, password)`: check the credentials against the registry (GET
 * /v2/ through its auth flow, as `docker login` does), then store them in docker's config
 * (or its credential helper), so that docker, skopeo and stratum share one login.
 */
import { createRegistryClient, type RegistryClientOptions } from './client.js';
import { saveCredentials, serverKey, type CredentialOptions } from './docker-config.js';
import { RegistryError } from './registry-error.js';

export interface LoginOptions extends Omit<RegistryClientOptions, 'auth'> {
  dockerConfig?: CredentialOptions;
  /** Store without asking the registry first (default false). */
  skipVerify?: boolean;
}

export async function login(registry: string, username: string, password: string, opts: LoginOptions = {}): Promise<{ serverKey: string }> {
  if (!opts.skipVerify) {
    const client = createRegistryClient({ ...opts, auth: { username, password } });
    const r = await client.ping(registry);
    if (!r.authorized) throw new RegistryError('UNAUTHORIZED', `${registry}: login as ${username} was refused`, { registry, status: 401 }, 'check the user name and password (or token)');
  }
  await saveCredentials(registry, { username, password }, opts.dockerConfig);
  return { serverKey: serverKey(registry) };
}
