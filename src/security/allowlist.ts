/**
 * The worker's allowlists. Whoever can start a workflow chooses its input, and the input names which
 * environment variable holds an API key and which host receives it. Without a limit, an input could name
 * AWS_SECRET_ACCESS_KEY (or TEMPORAL_API_KEY) and a host of its own, and the worker would send that secret
 * there. So the worker reads only the key variables and calls only the hosts on these lists; the operator of
 * the worker widens them with MSM_ALLOWED_KEY_ENVS and MSM_ALLOWED_HOSTS (see docs/security.md).
 */

/** API-key variables an experiment may name without any setting: the providers msm knows, and msm's own. */
export const DEFAULT_KEY_ENVS = [
  'OPENAI_API_KEY',
  'ANTHROPIC_API_KEY',
  'RUNPOD_API_KEY',
  'MSM_GENERATOR_API_KEY',
  'MSM_JUDGE_API_KEY',
] as const;

/**
 * Hosts an experiment may send a key to without any setting: the APIs msm speaks, and this machine's
 * loopback (a local vLLM or llama.cpp server, and the scripted servers of the tests). No wildcard of a
 * domain where users host their own endpoints (e.g. RunPod's pod proxies): that would hand the key to them.
 */
export const DEFAULT_HOSTS = [
  'api.openai.com',
  'api.anthropic.com',
  'api.runpod.io',
  'localhost',
  '127.0.0.1',
  '::1',
] as const;

export const KEY_ENVS_VARIABLE = 'MSM_ALLOWED_KEY_ENVS';
export const HOSTS_VARIABLE = 'MSM_ALLOWED_HOSTS';

/** The lists in force: the defaults and what the worker's environment adds. */
export interface Allowlists {
  keyEnvs: string[];
  /** "host", "host:port" or "*.domain" (any subdomain), lower case. */
  hosts: string[];
}

const listOf = (value: string | undefined) => (value ?? '').split(/[\s,]+/).filter(Boolean);

/** The defaults with the setting's entries added, and those it names with a leading "-" taken away. */
function withSetting(defaults: readonly string[], setting: string[]): string[] {
  const removed = new Set(setting.filter((e) => e.startsWith('-')).map((e) => e.slice(1)));
  return [...defaults, ...setting.filter((e) => !e.startsWith('-'))].filter((e) => !removed.has(e));
}

export function allowlists(env: NodeJS.ProcessEnv = process.env): Allowlists {
  return {
    keyEnvs: withSetting(DEFAULT_KEY_ENVS, listOf(env[KEY_ENVS_VARIABLE])),
    hosts: withSetting(
      DEFAULT_HOSTS,
      listOf(env[HOSTS_VARIABLE]).map((h) => h.toLowerCase()),
    ),
  };
}

/** An entry names one variable, or with a final "*" every variable that starts with what precedes it. */
const keyEnvMatches = (entry: string, variable: string) =>
  entry.endsWith('*') ? variable.startsWith(entry.slice(0, -1)) : entry === variable;

/** Why `variable` may not be read as a key (undefined: it may). `field` names where the input names it. */
export function keyEnvProblem(field: string, variable: string, lists = allowlists()): string | undefined {
  if (lists.keyEnvs.some((entry) => keyEnvMatches(entry, variable))) return undefined;
  return (
    `${field}: the workers do not read API keys from ${variable}; an experiment may name ${lists.keyEnvs.join(', ')}. ` +
    `Put the key in one of those, or, if ${variable} holds nothing but a provider key, add it to ${KEY_ENVS_VARIABLE} ` +
    `(comma-separated) in the environment of every worker`
  );
}

/** Why `url` may not be called with a key (undefined: it may). */
export function hostProblem(field: string, url: string, lists = allowlists()): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `${field}: ${url} is not a URL; write the endpoint as https://host/path`;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:')
    return `${field}: ${url} is not an http(s) URL; write the endpoint as https://host/path`;
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  if (lists.hosts.some((entry) => hostMatches(entry, host, port))) return undefined;
  return (
    `${field}: the workers do not call ${host} (${url}); the provider hosts they call are ${lists.hosts.join(', ')}. ` +
    `If you trust ${host} with the API key, add it to ${HOSTS_VARIABLE} (comma-separated; *.example.com allows ` +
    `its subdomains, host:port one port) in the environment of every worker`
  );
}

/** "host" (any port), "host:port", "[v6]:port" or "*.domain" (its subdomains, not the domain itself). */
function hostMatches(entry: string, host: string, port: string): boolean {
  const withPort = /^\[(.+)\]:(\d+)$/.exec(entry) ?? /^([^:]+):(\d+)$/.exec(entry);
  const [name, wantedPort] = withPort ? [withPort[1], withPort[2]] : [entry.replace(/^\[(.*)\]$/, '$1'), undefined];
  if (wantedPort !== undefined && wantedPort !== port) return false;
  if (name.startsWith('*.')) return host.endsWith(name.slice(1));
  return host === name;
}

/**
 * The key and the host of one endpoint, checked together: the first problem, or undefined. A call that
 * sends no key (no variable named) still goes only to an allowed host: its prompts are the experiment's data.
 */
export function endpointProblem(
  field: string,
  endpoint: { baseUrl?: string; apiKeyEnv?: string },
  lists = allowlists(),
): string | undefined {
  return (
    (endpoint.apiKeyEnv === undefined ? undefined : keyEnvProblem(`${field}.apiKeyEnv`, endpoint.apiKeyEnv, lists)) ??
    (endpoint.baseUrl === undefined ? undefined : hostProblem(`${field}.baseUrl`, endpoint.baseUrl, lists))
  );
}
