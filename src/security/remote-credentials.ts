/**
 * The worker's own S3 credentials (AWS_*) can read and write the whole store, every experiment's. A remote
 * trainer host named in a workflow input must not get them unless the worker's operator says so: the input
 * asks (compute.forwardStoreCredentials), and the worker's MSM_REMOTE_STORE_CREDENTIALS names the host (or
 * "*": any). Otherwise a host gets the store's endpoint and region only, and uses credentials of its own.
 */
export const REMOTE_CREDENTIALS_VARIABLE = 'MSM_REMOTE_STORE_CREDENTIALS';

/** How RunPod pods are named in MSM_REMOTE_STORE_CREDENTIALS: their addresses are not known in advance. */
export const RUNPOD_HOSTS = 'runpod';

/** Hosts the worker forwards its store credentials to: "*" (any), or names; none when unset or "0". */
export function credentialHosts(env: NodeJS.ProcessEnv = process.env): string[] {
  const v = (env[REMOTE_CREDENTIALS_VARIABLE] ?? '').trim();
  if (v === '' || v === '0' || v.toLowerCase() === 'false') return [];
  if (v === '1' || v.toLowerCase() === 'true') return ['*'];
  return v
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((h) => h.toLowerCase());
}

/** Why the worker will not forward its store credentials to `hosts` (undefined: it will). */
export function remoteCredentialsProblem(
  field: string,
  hosts: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const allowed = credentialHosts(env);
  const refused = hosts.filter((h) => !allowed.includes('*') && !allowed.includes(h.toLowerCase()));
  if (refused.length === 0) return undefined;
  return (
    `${field}: the workers do not send their own S3 credentials to ${refused.join(', ')}. Better: give the host ` +
    `credentials of its own, limited to the store's bucket or prefix (its ~/.aws/credentials or environment), and ` +
    `drop forwardStoreCredentials. Or, if you accept that the host can then read and write the whole store, set ` +
    `${REMOTE_CREDENTIALS_VARIABLE}=${refused.join(',')} (or * for any host) in the environment of every worker`
  );
}
