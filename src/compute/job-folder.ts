import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { TrainerEvent, TrainerJobManifest } from '../training/job';
import { checkTrainerManifest } from '../training/manifest-schema';
import type { JobStatus } from './backend';
import { shQuote, type Shell } from './shell';

/**
 * The job-folder protocol (job-folder.sh) driven through a Shell: the one implementation behind every
 * backend whose machine has a POSIX shell, here or over SSH.
 */
const LIB = readFileSync(path.join(__dirname, 'job-folder.sh'), 'utf8');
const STDERR_TAIL_BYTES = 4000;

export interface JobFolderOptions {
  shell: Shell;
  /** Absolute folder on the machine; jobs live in <root>/jobs/<jobId>/. */
  root: string;
  /** The folder on the machine that holds the msm_trainer package. */
  trainerDir: string;
  python: string;
  /** Extra environment for the job (e.g. MSM_TORCH_THREADS, CUDA_VISIBLE_DEVICES); on the command line. */
  env?: Record<string, string>;
  /**
   * Environment with secrets (S3 credentials), read at each launch: written over stdin to the job folder's
   * `env` file (mode 600) and sourced by the wrapper, never passed as arguments.
   */
  secretEnv?: () => Record<string, string>;
  /** How long cancel waits after SIGTERM before SIGKILL. */
  cancelGraceMs: number;
  /** Limit for one protocol call (unset: none). */
  timeoutMs?: number;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * How the wrapper starts the trainer: one process, or torchrun with this many ranks on this node (see
 * job-folder.sh). A job of one process on a GPU still runs FSDP2, in a process group of its own. A world of
 * several nodes needs `node`: this host's place and the rendezvous, which only a multi-host backend knows.
 */
export function worldEnv(manifest: TrainerJobManifest, node?: NodePlace): Record<string, string> {
  const w = manifest.world;
  if (!w || (w.nodes <= 1 && w.procsPerNode <= 1)) return {};
  if (w.nodes <= 1) return { MSM_NPROC_PER_NODE: String(w.procsPerNode) };
  if (!node)
    throw new Error(
      `trainer job ${manifest.jobId}: a world of ${w.nodes} nodes needs the ssh backend with compute.hosts`,
    );
  return {
    MSM_NNODES: String(w.nodes),
    MSM_NODE_RANK: String(node.rank),
    MSM_NPROC_PER_NODE: String(w.procsPerNode),
    MSM_MASTER_ADDR: node.masterAddr,
    MSM_MASTER_PORT: String(node.masterPort),
  };
}

/** One host's place in a job over several hosts: its node rank and where node 0's rendezvous listens. */
export interface NodePlace {
  rank: number;
  masterAddr: string;
  masterPort: number;
}

/** The `env` file's content: one quoted export per variable. */
export function envFileContent(vars: Record<string, string>): string {
  return Object.entries(vars)
    .map(([k, v]) => {
      if (!ENV_NAME.test(k)) throw new Error(`invalid environment variable name '${k}'`);
      return `export ${k}=${shQuote(v)}\n`;
    })
    .join('');
}

/**
 * The job folder's name on node `rank` of a job over several hosts: node 0 keeps the job id (its folder
 * carries the events); the others get their own, since the hosts' work folders may be one shared folder.
 */
export const nodeJobId = (jobId: string, rank: number): string => (rank === 0 ? jobId : `${jobId}.node-${rank}`);

/** Job ids become folder names: keep them to a safe alphabet. */
export function jobFolder(root: string, jobId: string): string {
  const safe = jobId.replace(/[^A-Za-z0-9._-]/g, '_');
  if (!safe || safe === '.' || safe === '..') throw new Error(`invalid job id '${jobId}'`);
  return path.posix.join(root, 'jobs', safe);
}

/** The events in complete lines; a line without its newline is still being written (or was torn by a kill). */
export function parseEventLines(bytes: Buffer): { events: TrainerEvent[]; consumed: number } {
  const end = bytes.lastIndexOf(0x0a) + 1;
  const events: TrainerEvent[] = [];
  for (const line of bytes.subarray(0, end).toString('utf8').split('\n')) {
    if (!line) continue;
    try {
      const ev = JSON.parse(line) as unknown;
      if (ev && typeof ev === 'object' && typeof (ev as { event?: unknown }).event === 'string')
        events.push(ev as TrainerEvent);
    } catch {
      // a torn line from a killed run, closed by a newline at relaunch: not an event
    }
  }
  return { events, consumed: end };
}

/** Read the `status` call's answer: header line, events bytes, stderr bytes. */
export function parseStatus(out: Buffer): JobStatus {
  const nl = out.indexOf(0x0a);
  const m = /^msm-status (running|exited|lost) (\d+|-) (\d+) (\d+) (\d+)$/.exec(
    out.subarray(0, Math.max(nl, 0)).toString(),
  );
  if (!m) throw new Error(`unreadable job status: ${out.subarray(0, 200).toString()}`);
  const [from, n, k] = [Number(m[3]), Number(m[4]), Number(m[5])];
  const body = out.subarray(nl + 1);
  if (body.length !== n + k) throw new Error(`job status cut short: ${body.length} of ${n + k} bytes`);
  const { events, consumed } = parseEventLines(body.subarray(0, n));
  return {
    state: m[1] as JobStatus['state'],
    ...(m[2] !== '-' ? { exitCode: Number(m[2]) } : {}),
    events,
    nextCursor: from + consumed,
    ...(k > 0 ? { stderrTail: body.subarray(n).toString('utf8') } : {}),
  };
}

export class JobFolders {
  constructor(private readonly o: JobFolderOptions) {}

  private async call(fn: string, args: string[], input?: string, extraMs = 0) {
    const timeoutMs = this.o.timeoutMs === undefined ? undefined : this.o.timeoutMs + extraMs;
    return this.o.shell.run(`${LIB}\n${fn} "$@"\n`, args, { input, timeoutMs });
  }

  /** Start the job, or re-attach when its wrapper still runs; returns the wrapper's pid. */
  async launch(manifest: TrainerJobManifest, node?: NodePlace): Promise<{ pid: number; attached: boolean }> {
    checkTrainerManifest(manifest); // the trainer would refuse it (exit 2): say so before any machine work
    const env = Object.entries({ ...this.o.env, ...worldEnv(manifest, node) }).map(([k, v]) => `${k}=${v}`);
    const dir = jobFolder(this.o.root, nodeJobId(manifest.jobId, node?.rank ?? 0));
    const secrets = this.o.secretEnv?.() ?? {};
    if (Object.keys(secrets).length) {
      const w = await this.call('putenv', [dir], envFileContent(secrets));
      if (w.code !== 0)
        throw new Error(
          `could not write the environment of trainer job ${manifest.jobId} (exit ${w.code}): ${w.stderr.trim()}`,
        );
    }
    const r = await this.call(
      'launch',
      [dir, this.o.trainerDir, this.o.python, ...env],
      JSON.stringify(manifest, null, 2) + '\n',
    );
    const m = /^(started|attached) (\d+)$/m.exec(r.stdout.toString());
    if (r.code !== 0 || !m)
      throw new Error(`could not launch trainer job ${manifest.jobId} (exit ${r.code}): ${r.stderr.trim()}`);
    return { pid: Number(m[2]), attached: m[1] === 'attached' };
  }

  /** State, the events after byte `cursor` of the event stream, and the stderr tail. */
  async poll(jobId: string, cursor: number): Promise<JobStatus> {
    const r = await this.call('status', [
      jobFolder(this.o.root, jobId),
      String(Math.max(0, cursor)),
      String(STDERR_TAIL_BYTES),
    ]);
    if (r.code !== 0)
      throw new Error(`could not read the status of trainer job ${jobId} (exit ${r.code}): ${r.stderr.trim()}`);
    return parseStatus(r.stdout);
  }

  /** Whether the job runs, exited (with its code) or is lost, without reading its events. */
  async state(jobId: string): Promise<{ state: JobStatus['state']; exitCode?: number }> {
    const r = await this.call('state', [jobFolder(this.o.root, jobId)]);
    const m = /^(running|lost|exited (\d+))$/m.exec(r.stdout.toString());
    if (r.code !== 0 || !m)
      throw new Error(`could not read the state of trainer job ${jobId} (exit ${r.code}): ${r.stderr.trim()}`);
    return m[2] === undefined ? { state: m[1] as 'running' | 'lost' } : { state: 'exited', exitCode: Number(m[2]) };
  }

  /** A TCP port free on the machine now. */
  async freePort(): Promise<number> {
    const r = await this.call('freeport', [this.o.python]);
    const port = Number(r.stdout.toString().trim());
    if (r.code !== 0 || !Number.isInteger(port) || port <= 0)
      throw new Error(`could not find a free port (exit ${r.code}): ${r.stderr.trim()}`);
    return port;
  }

  /** SIGTERM the job's process group, SIGKILL after the grace period; nothing when it is not running. */
  async cancel(jobId: string): Promise<void> {
    const tenths = String(Math.ceil(this.o.cancelGraceMs / 100));
    // The script waits the grace period and then up to 5 s for SIGKILL to land.
    const r = await this.call(
      'cancel',
      [jobFolder(this.o.root, jobId), tenths],
      undefined,
      this.o.cancelGraceMs + 5000,
    );
    if (r.code !== 0) throw new Error(`could not cancel trainer job ${jobId} (exit ${r.code}): ${r.stderr.trim()}`);
  }
}
