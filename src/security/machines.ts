import type { Experiment } from '../config/experiment-schema';
import { parseHostEntry } from '../config/compute-shape';

/**
 * Where the worker runs jobs, as its operator limits it: the ssh hosts it connects to with its private keys
 * (MSM_ALLOWED_SSH_HOSTS) and the container images it rents RunPod pods with (MSM_ALLOWED_RUNPOD_IMAGES).
 * Unset: not limited (a single-team worker). A worker shared by people who may not choose its machines sets
 * them, and any other host or image is refused before anything is rented or connected (docs/security.md).
 */
export const SSH_HOSTS_VARIABLE = 'MSM_ALLOWED_SSH_HOSTS';
export const RUNPOD_IMAGES_VARIABLE = 'MSM_ALLOWED_RUNPOD_IMAGES';

const listOf = (value: string | undefined) =>
  value === undefined || value.trim() === '' ? undefined : value.split(/[\s,]+/).filter(Boolean);

/** "host", or "*.domain" for its subdomains; a final "*" in an image entry matches any rest (a tag). */
function matches(entry: string, value: string): boolean {
  if (entry.startsWith('*.')) return value.endsWith(entry.slice(1));
  if (entry.endsWith('*')) return value.startsWith(entry.slice(0, -1));
  return entry === value;
}

/** Why the worker will not run this experiment's jobs where it asks (undefined: it will). */
export function machineProblem(c: Experiment['compute'], env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (c.backend === 'ssh' || (c.backend === 'slurm' && c.loginHost)) {
    const allowed = listOf(env[SSH_HOSTS_VARIABLE])?.map((h) => h.toLowerCase());
    if (!allowed) return undefined;
    const named = c.backend === 'ssh' ? (c.hosts ?? [c.host]) : [c.loginHost!]; // a Slurm login node is an ssh host
    const hosts = named.map((h) => parseHostEntry(h, c.port).host.toLowerCase());
    const refused = hosts.filter((h) => !allowed.some((entry) => matches(entry, h)));
    if (!refused.length) return undefined;
    return (
      `compute: the workers do not run jobs on ${refused.join(', ')}; the ssh hosts they use are ${allowed.join(', ')}. ` +
      `Name one of those, or ask the workers' operator to add the host to ${SSH_HOSTS_VARIABLE}`
    );
  }
  if (c.backend === 'runpod') {
    const allowed = listOf(env[RUNPOD_IMAGES_VARIABLE]);
    if (!allowed || allowed.some((entry) => matches(entry, c.image))) return undefined;
    return (
      `compute.image: the workers do not rent pods with ${c.image}; the images they use are ${allowed.join(', ')}. ` +
      `Name one of those, or ask the workers' operator to add it to ${RUNPOD_IMAGES_VARIABLE} (a final * matches any tag)`
    );
  }
  return undefined;
}
