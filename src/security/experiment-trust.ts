import type { Experiment } from '../config/experiment-schema';
import { parseHostEntry } from '../config/compute-shape';
import { allowlists, endpointProblem, type Allowlists } from './allowlist';
import { machineProblem } from './machines';
import { remoteCredentialsProblem, RUNPOD_HOSTS } from './remote-credentials';

interface Endpoint {
  baseUrl?: string;
  apiKeyEnv?: string;
}

/** Every endpoint the experiment calls with a key of the worker, with where it is named. */
function endpointsOf(x: Experiment): Array<[string, Endpoint | undefined]> {
  const llm = (p: { kind: string } | undefined) => (p && p.kind !== 'local' ? (p as Endpoint) : undefined);
  return [
    ['generation.provider', llm(x.generation.provider)],
    ['aft.generate.provider', llm(x.aft.generate?.provider)],
    ['aft.generate.embeddings', x.aft.generate?.embeddings],
    ['eval.judge', llm(x.eval.judge)],
    ['eval.engine', x.eval.engine?.kind === 'openai' ? x.eval.engine : undefined],
    ['compute', x.compute.backend === 'runpod' ? x.compute : undefined],
  ];
}

/** The hosts a remote backend's jobs run on, as MSM_REMOTE_STORE_CREDENTIALS names them. */
function remoteHostsOf(c: Experiment['compute']): string[] {
  if (c.backend === 'runpod') return [RUNPOD_HOSTS];
  if (c.backend === 'ssh') return (c.hosts ?? [c.host]).map((h) => parseHostEntry(h, c.port).host);
  return [];
}

/** Store credentials asked for a remote host that the worker does not forward them to. */
export function credentialProblem(c: Experiment['compute'], env = process.env): string | undefined {
  if (c.backend === 'local' || c.backend === 'slurm' || !c.forwardStoreCredentials) return undefined;
  return remoteCredentialsProblem('compute.forwardStoreCredentials', remoteHostsOf(c), env);
}

/**
 * What the worker refuses to do for this experiment: read a key variable or call a host off its allowlists,
 * give a remote host its own store credentials, or run jobs on a machine its operator did not allow. Checked with the rest of the input, before any call.
 */
export function trustProblems(x: Experiment, lists: Allowlists = allowlists(), env = process.env): string[] {
  const problems = endpointsOf(x).flatMap(([field, e]) => {
    const p = e && endpointProblem(field, e, lists);
    return p ? [p] : [];
  });
  const more = [credentialProblem(x.compute, env), machineProblem(x.compute, env)];
  return [...problems, ...more.filter((p): p is string => p !== undefined)];
}
