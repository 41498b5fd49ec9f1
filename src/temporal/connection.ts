import { loadClientConfigProfile, toClientOptions, type ClientConfigProfile } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';

/**
 * Where the CLI, the workers and the tests reach Temporal: Temporal's own environment configuration
 * (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_* and the profiles of
 * temporal.toml, chosen by TEMPORAL_PROFILE / TEMPORAL_CONFIG_FILE), with command-line flags on top.
 * Nothing set means the local dev server, which `msm demo` and `msm run` start when it is not running.
 */
export interface TemporalTarget {
  address: string;
  namespace: string;
  /** For NativeConnection (workers) and, without the worker-only fields, Connection (clients). */
  connectionOptions: NativeConnectionOptions;
  /** True when neither flags, environment nor a profile named a server: the embedded dev server. */
  local: boolean;
  /** For messages: address, namespace, and whether TLS or an API key is in use (never the key). */
  describe: string;
}

export interface TargetFlags {
  address?: string;
  namespace?: string;
  /** A temporal.toml profile (default: $TEMPORAL_PROFILE, else "default"). */
  profile?: string;
}

export const LOCAL_ADDRESS = '127.0.0.1:7233';
const DEFAULT_NAMESPACE = 'default';

export class TemporalConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemporalConfigError';
  }
}

function loadProfile(flags: TargetFlags, env: NodeJS.ProcessEnv): ClientConfigProfile {
  const overrideEnvVars = Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined),
  );
  try {
    return loadClientConfigProfile({ profile: flags.profile, overrideEnvVars });
  } catch (e) {
    const where = env.TEMPORAL_CONFIG_FILE
      ? `TEMPORAL_CONFIG_FILE=${env.TEMPORAL_CONFIG_FILE}`
      : 'the Temporal config file';
    throw new TemporalConfigError(
      `cannot read the Temporal connection settings from ${where}: ${(e as Error).message}`,
    );
  }
}

/** The connection settings from flags, the environment and temporal.toml, flags winning. */
export function temporalTarget(flags: TargetFlags = {}, env: NodeJS.ProcessEnv = process.env): TemporalTarget {
  const profile = loadProfile(flags, env);
  const named = flags.address ?? profile.address;
  const merged: ClientConfigProfile = {
    ...profile,
    address: named ?? LOCAL_ADDRESS,
    namespace: flags.namespace ?? profile.namespace ?? DEFAULT_NAMESPACE,
  };
  const { connectionOptions, namespace } = toClientOptions(merged);
  const secure = [connectionOptions.tls ? 'TLS' : '', connectionOptions.apiKey ? 'API key' : '']
    .filter(Boolean)
    .join(' + ');
  return {
    address: merged.address!,
    namespace: namespace ?? DEFAULT_NAMESPACE,
    connectionOptions,
    local: named === undefined,
    describe: `${merged.address} namespace ${namespace ?? DEFAULT_NAMESPACE}${secure ? ` (${secure})` : ''}`,
  };
}
