import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { TrainerJobManifest } from '../trainer/job';
import { ComputeConfigError, type ComputeBackend, type JobStatus, type LaunchResult, type MachineHandle } from './backend';
import { JobFolders } from './job-folder';
import { HostUnreachableError, SshConnection } from './ssh-connection';
import { DEFAULT_TRAINER_DIR, trainerBundle, trainerTar } from './trainer-bundle';

/**
 * The `ssh` backend: the job-folder protocol (job-folder.sh) on a machine reached over SSH, with the
 * trainer pushed to <workDir>/trainer-<content hash>/. The manifest's data and checkpoint URIs are
 * file:// paths that the host must see as they are: true on loopback or a shared file system. A rented
 * machine elsewhere needs the S3 artifact store in the trainer (separate work).
 */
export interface SshBackendOptions {
  host: string;
  port?: number;
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
  /** Names of this worker's environment variables the job gets through its env file; default: S3_ENV. */
  forwardEnv?: (name: string) => boolean;
  cancelGraceMs?: number;
  connectTimeoutSec?: number;
  /** Limit for one remote command (default: connect timeout + 20 s); an overrun counts as unreachable. */
  commandTimeoutMs?: number;
}

// The trainer's runtime imports (trainer/requirements.txt), checked without importing them (fast).
const TRAINER_MODULES = ['torch', 'transformers', 'peft', 'safetensors', 'numpy'];
const PUSH_TIMEOUT_MS = 300_000;

/** What an S3-backed trainer job needs from the worker: AWS_* credentials and region, and the endpoint. */
export const S3_ENV = (name: string) => name.startsWith('AWS_') || name === 'MSM_S3_ENDPOINT';

/** The worker's variables that pass `forward`, read at launch (credentials may rotate). */
export function forwardedEnv(forward: (name: string) => boolean): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => forward(e[0]) && e[1] !== undefined));
}

// check WORKDIR PYTHON HASH MODULES...: "workdir <abs>", "trainer yes|no", "python <ver> <missing...>".
const CHECK = `wd=$1 py=$2 hash=$3; shift 3
mkdir -p "$wd/jobs" && cd "$wd" || exit 1
echo "workdir $(pwd)"
if [ -f "trainer-$hash/.complete" ]; then echo "trainer yes"; else echo "trainer no"; fi
"$py" -c 'import importlib.util as u, sys; print("python %d.%d" % sys.version_info[:2], *[m for m in sys.argv[1:] if u.find_spec(m) is None])' "$@" 2>&1 || true`;

// push WORKDIR HASH < tar: unpack beside the final folder, then rename (a half copy is never used).
const PUSH = `t="$1/trainer-$2" tmp="$1/trainer-$2.tmp.$$"
[ -f "$t/.complete" ] && { cat > /dev/null; exit 0; }
rm -rf "$tmp" && mkdir -p "$tmp" && (cd "$tmp" && tar -xf -) && touch "$tmp/.complete" || exit 1
if [ -d "$t" ]; then rm -rf "$tmp"; else mv "$tmp" "$t"; fi`;

export function createSshBackend(opts: SshBackendOptions): ComputeBackend {
  const connectTimeoutSec = opts.connectTimeoutSec ?? 10;
  const commandTimeoutMs = opts.commandTimeoutMs ?? connectTimeoutSec * 1000 + 20_000;
  const target = { host: opts.host, port: opts.port ?? 22, user: opts.user, identityFile: opts.identityFile, knownHostsFile: opts.knownHostsFile, connectTimeoutSec, commandTimeoutMs };
  const ssh = new SshConnection(target);
  const trainerDir = path.resolve(opts.trainerDir ?? DEFAULT_TRAINER_DIR);
  const python = opts.python ?? 'python3';
  const where = `${target.user}@${target.host}:${target.port}`;
  mkdirSync(path.dirname(opts.knownHostsFile), { recursive: true });
  let holders = 0; // provisioned jobs not yet released: the control master closes when none is left

  const jobsOn = (m: MachineHandle) =>
    new JobFolders({
      shell: ssh,
      root: String(m.details.workDir),
      trainerDir: String(m.details.trainerDir),
      python,
      env: opts.env,
      secretEnv: () => forwardedEnv(opts.forwardEnv ?? S3_ENV),
      cancelGraceMs: opts.cancelGraceMs ?? 10_000,
      timeoutMs: commandTimeoutMs,
    });

  async function check(hash: string): Promise<{ workDir: string; hasTrainer: boolean }> {
    let r;
    try {
      r = await ssh.run(CHECK, [opts.workDir, python, hash, ...TRAINER_MODULES]);
    } catch (e) {
      // A refused key or a changed host key will not fix itself: say so instead of retrying.
      if (e instanceof HostUnreachableError && /Permission denied|Host key verification failed/.test(e.detail)) {
        throw new ComputeConfigError(`${e.message}: check compute.user and compute.identityFile, and the host key in ${opts.knownHostsFile}`);
      }
      throw e;
    }
    const out = r.stdout.toString();
    const workDir = /^workdir (\/.*)$/m.exec(out)?.[1];
    if (r.code !== 0 || !workDir) throw new ComputeConfigError(`cannot create compute.workDir ${opts.workDir} on ${where}: ${r.stderr.trim() || out.trim()}`);
    const py = /^python (\d+\.\d+)(.*)$/m.exec(out);
    if (!py) throw new ComputeConfigError(`compute.python '${python}' does not run on ${where}: ${out.split('\n').slice(2).join(' ').trim()}`);
    const missing = py[2].trim();
    if (missing) {
      throw new ComputeConfigError(
        `compute.python '${python}' on ${where} lacks ${missing.split(' ').join(', ')}: install trainer/requirements.txt into it, or point compute.python at a venv that has them`,
      );
    }
    return { workDir, hasTrainer: /^trainer yes$/m.test(out) };
  }

  return {
    name: 'ssh',

    /** The host answers, has the Python and the current trainer (pushed when its content hash is new). */
    async provision(_jobId: string): Promise<MachineHandle> {
      const bundle = await trainerBundle(trainerDir);
      const { workDir, hasTrainer } = await check(bundle.hash);
      if (!hasTrainer) {
        const r = await ssh.run(PUSH, [workDir, bundle.hash], { input: await trainerTar(trainerDir, bundle), timeoutMs: PUSH_TIMEOUT_MS });
        if (r.code !== 0) throw new Error(`could not copy the trainer to ${where}:${workDir}: ${r.stderr.trim()}`);
      }
      holders++;
      return { backend: 'ssh', machineId: where, details: { host: target.host, port: target.port, user: target.user, workDir, trainerDir: `${workDir}/trainer-${bundle.hash}` } };
    },

    async launch(machine: MachineHandle, manifest: TrainerJobManifest): Promise<LaunchResult> {
      return { attached: (await jobsOn(machine).launch(manifest)).attached };
    },

    async poll(machine: MachineHandle, jobId: string, cursor: number): Promise<JobStatus> {
      try {
        return await jobsOn(machine).poll(jobId, cursor);
      } catch (e) {
        // The machine is gone or silent: a preemption. The job may still run there; a relaunch re-attaches.
        if (e instanceof HostUnreachableError) return { state: 'lost', events: [], nextCursor: cursor, lostReason: e.message };
        throw e;
      }
    },

    cancel: (machine: MachineHandle, jobId: string): Promise<void> => jobsOn(machine).cancel(jobId),

    /** A plain SSH host is not rented: nothing to free but the control master, once no job needs it. */
    async release(_machine: MachineHandle): Promise<void> {
      holders = Math.max(0, holders - 1);
      if (holders === 0) await ssh.close();
    },
  };
}
