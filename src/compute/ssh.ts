import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { TrainerJobManifest } from '../training/job';
import {
  ComputeConfigError,
  type ComputeBackend,
  type JobStatus,
  type LaunchResult,
  type MachineHandle,
} from './backend';
import { JobFolders, nodeJobId, type NodePlace } from './job-folder';
import { parseHostEntry } from '../config/compute-shape';
import { HostUnreachableError, SshConnection } from './ssh-connection';
import { DEFAULT_TRAINER_DIR, trainerBundle, trainerTar } from './trainer-bundle';

/**
 * The `ssh` backend: the job-folder protocol (job-folder.sh) on a machine reached over SSH, with the
 * trainer pushed to <workDir>/trainer-<content hash>/. The manifest's data and checkpoint URIs are
 * file:// paths that the host must see as they are (loopback or a shared file system), or s3:// URIs.
 *
 * With `hosts`, one job spans several machines: the same job folder on each host, one torchrun per host
 * (node rank = position in `hosts`), meeting at node 0. Node 0's folder carries the events (global rank 0
 * writes them); a rank lost on any host is the loss of the whole job, which is relaunched on every host
 * and resumes from the newest complete checkpoint.
 */
export interface SshBackendOptions {
  host: string;
  port?: number;
  /** Several nodes: every host of the job ("name" or "name:port"), node 0 (= host) first. */
  hosts?: readonly string[];
  /** Several nodes: where the others reach node 0; default its name in `hosts`. */
  rendezvousAddress?: string;
  /** Training processes per host (the cost meter's GPUs per host); default 1. */
  gpusPerHost?: number;
  user: string;
  /** Private key on this machine. */
  identityFile: string;
  /** Job folders and trainer copies on the host; a relative path is under the login's home. */
  workDir: string;
  /** Python on the host with the trainer's requirements. */
  python?: string;
  /** known_hosts of the project: a host is trusted on first contact, and refused if its key changes. */
  knownHostsFile: string;
  /** The local folder holding the msm_trainer package; default <repo>/trainer. */
  trainerDir?: string;
  env?: Record<string, string>;
  /**
   * Names of this worker's environment variables the job gets through its env file; default STORE_PLACE_ENV
   * (where the store is, no credentials: the host uses its own). S3_ENV adds the worker's own credentials.
   */
  forwardEnv?: (name: string) => boolean;
  cancelGraceMs?: number;
  connectTimeoutSec?: number;
  /** Limit for one remote command (default: connect timeout + 20 s); an overrun counts as unreachable. */
  commandTimeoutMs?: number;
}

// The trainer's runtime imports (trainer/requirements.txt), checked without importing them (fast).
const TRAINER_MODULES = ['torch', 'transformers', 'peft', 'safetensors', 'numpy', 'jsonschema'];
const PUSH_TIMEOUT_MS = 300_000;

/** What an S3-backed trainer job needs from the worker: AWS_* credentials and region, and the endpoint. */
export const S3_ENV = (name: string) => name.startsWith('AWS_') || name === 'MSM_S3_ENDPOINT';

/** Where the S3 store is, without credentials: what a host with credentials of its own needs (docs/security.md). */
export const STORE_PLACE_ENV = (name: string) =>
  name === 'MSM_S3_ENDPOINT' || name === 'AWS_REGION' || name === 'AWS_DEFAULT_REGION';

/** The worker's variables that pass `forward`, read at launch (credentials may rotate). */
export function forwardedEnv(forward: (name: string) => boolean): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => forward(e[0]) && e[1] !== undefined),
  );
}

// check WORKDIR PYTHON HASH MODULES...: "workdir <abs>", "trainer yes|no", "python <ver> <missing...>".
const CHECK = `wd=$1 py=$2 hash=$3; shift 3
mkdir -p "$wd/jobs" && cd "$wd" || exit 1
echo "workdir $(pwd)"
if [ -f "trainer-$hash/.complete" ]; then echo "trainer yes"; else echo "trainer no"; fi
"$py" -c 'import importlib.util as u, sys; print("python %d.%d" % sys.version_info[:2], *[m for m in sys.argv[1:] if u.find_spec(m) is None])' "$@" 2>&1 || true`;

// push WORKDIR HASH < tar: unpack beside the final folder, then rename (a half copy is never used).
export const PUSH = `t="$1/trainer-$2" tmp="$1/trainer-$2.tmp.$$"
[ -f "$t/.complete" ] && { cat > /dev/null; exit 0; }
rm -rf "$tmp" && mkdir -p "$tmp" && (cd "$tmp" && tar -xf -) && touch "$tmp/.complete" || exit 1
if [ -d "$t" ]; then rm -rf "$tmp"; else mv "$tmp" "$t"; fi`;

/** One host of the backend: its connection and how to name it in messages. */
interface SshNode {
  ssh: SshConnection;
  where: string;
  address: string;
}

/** A provisioned host: where its job folders and its copy of the trainer are. */
interface NodePlacement {
  workDir: string;
  trainerDir: string;
}

export function createSshBackend(opts: SshBackendOptions): ComputeBackend {
  return new SshBackend(opts);
}

/** One or more SSH hosts: the trainer pushed once per content hash, jobs in folders, torchrun across hosts. */
class SshBackend implements ComputeBackend {
  readonly name = 'ssh';
  private readonly addresses: Array<{ host: string; port: number }>;
  private readonly nodes: SshNode[];
  private readonly multi: boolean;
  private readonly trainerDir: string;
  private readonly python: string;
  private readonly commandTimeoutMs: number;
  /** Provisioned jobs not yet released: the control masters close when none is left. */
  private holders = 0;

  constructor(private readonly opts: SshBackendOptions) {
    const connectTimeoutSec = opts.connectTimeoutSec ?? 10;
    this.commandTimeoutMs = opts.commandTimeoutMs ?? connectTimeoutSec * 1000 + 20_000;
    this.addresses = (opts.hosts ?? [opts.host]).map((h) => parseHostEntry(h, opts.port ?? 22));
    this.nodes = this.addresses.map((a) => {
      const target = {
        host: a.host,
        port: a.port,
        user: opts.user,
        identityFile: opts.identityFile,
        knownHostsFile: opts.knownHostsFile,
        connectTimeoutSec,
        commandTimeoutMs: this.commandTimeoutMs,
      };
      return { ssh: new SshConnection(target), where: `${opts.user}@${a.host}:${a.port}`, address: a.host };
    });
    this.multi = this.nodes.length > 1;
    this.trainerDir = path.resolve(opts.trainerDir ?? DEFAULT_TRAINER_DIR);
    this.python = opts.python ?? 'python3';
    mkdirSync(path.dirname(opts.knownHostsFile), { recursive: true });
  }

  async provision(_jobId: string): Promise<MachineHandle> {
    const bundle = await trainerBundle(this.trainerDir);
    // One host after another: hosts may share one work folder (a home on NFS), and so one trainer copy.
    const placed: NodePlacement[] = [];
    for (const n of this.nodes) placed.push(await this.place(n, bundle));
    this.holders++;
    const [a, p] = [this.addresses[0], placed[0]];
    return {
      backend: 'ssh',
      machineId: this.nodes.map((n) => n.where).join(','),
      details: {
        host: a.host,
        port: a.port,
        user: this.opts.user,
        workDir: p.workDir,
        trainerDir: p.trainerDir,
        ...(this.multi
          ? { nodes: JSON.stringify(placed), gpuCount: this.nodes.length * (this.opts.gpusPerHost ?? 1) }
          : {}),
      },
    };
  }

  async launch(machine: MachineHandle, manifest: TrainerJobManifest): Promise<LaunchResult> {
    if (this.multi) return this.launchOnAll(machine, manifest);
    return { attached: (await this.jobsOf(machine)[0].launch(manifest)).attached };
  }

  async poll(machine: MachineHandle, jobId: string, cursor: number): Promise<JobStatus> {
    try {
      return this.multi
        ? await this.pollAll(machine, jobId, cursor)
        : await this.jobsOf(machine)[0].poll(jobId, cursor);
    } catch (e) {
      // A machine silent or gone, or a network fault between us: the job may still run there. Only the
      // caller's grace period (or, for a rented machine, the provider) turns this into a loss.
      if (e instanceof HostUnreachableError)
        return { state: 'unreachable', events: [], nextCursor: cursor, lostReason: e.message };
      throw e;
    }
  }

  async cancel(machine: MachineHandle, jobId: string): Promise<void> {
    await Promise.all(this.jobsOf(machine).map((j, rank) => j.cancel(nodeJobId(jobId, rank))));
  }

  /** A plain SSH host is not rented: nothing to free but the control masters, once no job needs them. */
  async release(_machine: MachineHandle): Promise<void> {
    this.holders = Math.max(0, this.holders - 1);
    if (this.holders === 0) await Promise.all(this.nodes.map((n) => n.ssh.close()));
  }

  private jobsOn(node: SshNode, p: NodePlacement): JobFolders {
    const opts = this.opts;
    return new JobFolders({
      shell: node.ssh,
      root: p.workDir,
      trainerDir: p.trainerDir,
      python: this.python,
      env: opts.env,
      secretEnv: () => forwardedEnv(opts.forwardEnv ?? STORE_PLACE_ENV),
      cancelGraceMs: opts.cancelGraceMs ?? 10_000,
      timeoutMs: this.commandTimeoutMs,
    });
  }

  /** Every host's job folders, node 0 first. */
  private jobsOf(m: MachineHandle): JobFolders[] {
    return placementsOf(m).map((p, i) => this.jobsOn(this.nodes[i], p));
  }

  private async check(node: SshNode, hash: string): Promise<{ workDir: string; hasTrainer: boolean }> {
    const { workDir, knownHostsFile } = this.opts;
    let r;
    try {
      r = await node.ssh.run(CHECK, [workDir, this.python, hash, ...TRAINER_MODULES]);
    } catch (e) {
      // A refused key or a changed host key will not fix itself: say so instead of retrying.
      if (e instanceof HostUnreachableError && /Permission denied|Host key verification failed/.test(e.detail)) {
        throw new ComputeConfigError(
          `${e.message}: check compute.user and compute.identityFile, and the host key in ${knownHostsFile}`,
        );
      }
      throw e;
    }
    return parseCheck(r.code, r.stdout.toString(), r.stderr, node.where, workDir, this.python);
  }

  /** The host answers, has the Python and the current trainer (pushed when its content hash is new). */
  private async place(node: SshNode, bundle: Awaited<ReturnType<typeof trainerBundle>>): Promise<NodePlacement> {
    const { workDir, hasTrainer } = await this.check(node, bundle.hash);
    if (!hasTrainer) {
      const r = await node.ssh.run(PUSH, [workDir, bundle.hash], {
        input: await trainerTar(this.trainerDir, bundle),
        timeoutMs: PUSH_TIMEOUT_MS,
      });
      if (r.code !== 0) throw new Error(`could not copy the trainer to ${node.where}:${workDir}: ${r.stderr.trim()}`);
    }
    return { workDir, trainerDir: `${workDir}/trainer-${bundle.hash}` };
  }

  /**
   * Several hosts: re-attach when the job runs on every one of them; otherwise stop what is left of it
   * anywhere (a rank lost on one host leaves the others waiting or failing) and start it on all, with a
   * fresh rendezvous port on node 0.
   */
  private async launchOnAll(m: MachineHandle, manifest: TrainerJobManifest): Promise<LaunchResult> {
    const jobs = this.jobsOf(m);
    const id = (rank: number) => nodeJobId(manifest.jobId, rank);
    const states = await Promise.all(jobs.map((j, rank) => j.state(id(rank))));
    if (states.every((s) => s.state === 'running')) return { attached: true };
    await Promise.all(jobs.map((j, rank) => j.cancel(id(rank))));
    const masterPort = await jobs[0].freePort();
    const masterAddr = this.opts.rendezvousAddress ?? this.nodes[0].address;
    await Promise.all(jobs.map((j, rank) => j.launch(manifest, { rank, masterAddr, masterPort } satisfies NodePlace)));
    return { attached: false };
  }

  /** Node 0 carries the events; a rank gone anywhere else (lost, or failed) is the loss of the job. */
  private async pollAll(m: MachineHandle, jobId: string, cursor: number): Promise<JobStatus> {
    const jobs = this.jobsOf(m);
    const first = await jobs[0].poll(jobId, cursor);
    if (first.state !== 'running') return first;
    for (let i = 1; i < jobs.length; i++) {
      const s = await jobs[i].state(nodeJobId(jobId, i));
      if (s.state === 'lost' || (s.state === 'exited' && s.exitCode !== 0)) {
        const how = s.state === 'lost' ? 'its processes are gone' : `its torchrun exited with code ${s.exitCode}`;
        return { ...first, state: 'lost', lostReason: `node ${i} (${this.nodes[i].where}): ${how}` };
      }
    }
    return first;
  }
}

/** Node 0's placement from the handle's own fields; the others' from `nodes` (several hosts). */
function placementsOf(m: MachineHandle): NodePlacement[] {
  if (typeof m.details.nodes === 'string') return JSON.parse(m.details.nodes) as NodePlacement[];
  return [{ workDir: String(m.details.workDir), trainerDir: String(m.details.trainerDir) }];
}

/** Read the CHECK script's answer: the absolute workDir, and whether the trainer is there. */
function parseCheck(
  code: number,
  out: string,
  stderr: string,
  where: string,
  workDirSetting: string,
  python: string,
): { workDir: string; hasTrainer: boolean } {
  const workDir = /^workdir (\/.*)$/m.exec(out)?.[1];
  if (code !== 0 || !workDir)
    throw new ComputeConfigError(
      `cannot create compute.workDir ${workDirSetting} on ${where}: ${stderr.trim() || out.trim()}`,
    );
  const py = /^python (\d+\.\d+)(.*)$/m.exec(out);
  if (!py)
    throw new ComputeConfigError(
      `compute.python '${python}' does not run on ${where}: ${out.split('\n').slice(2).join(' ').trim()}`,
    );
  const missing = py[2].trim();
  if (missing) {
    throw new ComputeConfigError(
      `compute.python '${python}' on ${where} lacks ${missing.split(' ').join(', ')}: install trainer/requirements.txt into it, or point compute.python at a venv that has them`,
    );
  }
  return { workDir, hasTrainer: /^trainer yes$/m.test(out) };
}
