import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { TrainerEvent, TrainerJobManifest } from '../trainer/job';
import type { ComputeBackend, JobStatus, MachineHandle } from './backend';

/**
 * The `local` backend: trainer jobs are subprocesses of this machine that outlive the worker.
 * Each job lives in <workDir>/jobs/<jobId>/:
 *   manifest.json  the job
 *   events.jsonl   the trainer's stdout (appended across relaunches: one event stream per job)
 *   stderr.log     the trainer's logs
 *   pid            "<pid> <start time>" of the wrapper shell (the start time guards against pid reuse)
 *   exit_code      written by the wrapper when the trainer exits; absent after a kill (= preemption)
 */
export interface LocalBackendOptions {
  workDir: string;
  /** Python with the trainer's requirements; default $MSM_PYTHON, else python3. */
  python?: string;
  /** The folder holding the msm_trainer package; default <repo>/trainer. */
  trainerDir?: string;
  /** Extra environment for the job (e.g. MSM_TORCH_THREADS, CUDA_VISIBLE_DEVICES). */
  env?: Record<string, string>;
  /** How long cancel waits after SIGTERM before SIGKILL. */
  cancelGraceMs?: number;
}

const DEFAULT_TRAINER_DIR = path.resolve(__dirname, '..', '..', 'trainer');
const STDERR_TAIL_BYTES = 4000;
const LOCK_STALE_MS = 60_000;

// sh stays the trainer's parent so it can record the exit status; the status file appears atomically.
const WRAPPER =
  'cd "$1" || exit 1; "$2" -m msm_trainer "$3/manifest.json" >> "$3/events.jsonl" 2>> "$3/stderr.log"; ' +
  'echo $? > "$3/exit_code.tmp" && mv "$3/exit_code.tmp" "$3/exit_code"';

interface PidInfo {
  pid: number;
  start: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function readOrNull(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, text);
  await fs.rename(tmp, file);
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot) and the process state; null if gone. */
async function procStat(pid: number): Promise<{ state: string; start: string } | null> {
  const stat = await readOrNull(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0], start: rest[19] };
}

const hasProc = fs.access('/proc/self/stat').then(
  () => true,
  () => false,
);

async function startTimeOf(pid: number): Promise<string> {
  if (!(await hasProc)) return '?';
  return (await procStat(pid))?.start ?? '?';
}

async function isAlive(info: PidInfo): Promise<boolean> {
  if (await hasProc) {
    const st = await procStat(info.pid);
    // A zombie has exited; another start time means the pid now belongs to some other process.
    return st !== null && st.state !== 'Z' && (info.start === '?' || st.start === info.start);
  }
  try {
    process.kill(info.pid, 0);
    return true;
  } catch {
    return false;
  }
}

function parseEvents(text: string): TrainerEvent[] {
  const lines = text.split('\n');
  lines.pop(); // a line without its newline is still being written (or was torn by a kill)
  const events: TrainerEvent[] = [];
  for (const line of lines) {
    try {
      const ev = JSON.parse(line) as unknown;
      if (ev && typeof ev === 'object' && typeof (ev as { event?: unknown }).event === 'string') events.push(ev as TrainerEvent);
    } catch {
      // a torn line from a killed run, closed by a newline at relaunch: not an event
    }
  }
  return events;
}

async function tail(file: string, bytes: number): Promise<string | undefined> {
  let fh;
  try {
    fh = await fs.open(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const { size } = await fh.stat();
    const len = Math.min(size, bytes);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    return buf.toString('utf8');
  } finally {
    await fh.close();
  }
}

export function createLocalBackend(opts: LocalBackendOptions): ComputeBackend {
  const python = opts.python ?? process.env.MSM_PYTHON ?? 'python3';
  const trainerDir = path.resolve(opts.trainerDir ?? DEFAULT_TRAINER_DIR);
  const graceMs = opts.cancelGraceMs ?? 10_000;
  // Job ids become folder names: keep them to a safe alphabet.
  const jobDir = (jobId: string) => {
    const safe = jobId.replace(/[^A-Za-z0-9._-]/g, '_');
    if (!safe || safe === '.' || safe === '..') throw new Error(`invalid job id '${jobId}'`);
    return path.join(opts.workDir, 'jobs', safe);
  };

  async function readPid(dir: string): Promise<PidInfo | null> {
    const text = await readOrNull(path.join(dir, 'pid'));
    const m = text?.trim().match(/^(\d+) (\S+)$/);
    return m ? { pid: Number(m[1]), start: m[2] } : null;
  }

  async function liveJob(dir: string): Promise<PidInfo | null> {
    const info = await readPid(dir);
    return info && (await isAlive(info)) ? info : null;
  }

  async function readExitCode(dir: string): Promise<number | null> {
    const text = await readOrNull(path.join(dir, 'exit_code'));
    if (text === null || !/^\d+\s*$/.test(text)) return null;
    return Number(text.trim());
  }

  /** One launcher at a time per job (two workers re-attaching at once must not start two trainers). */
  async function withLaunchLock<T>(dir: string, work: () => Promise<T>): Promise<T> {
    const lock = path.join(dir, 'launch.lock');
    for (let waited = 0; ; waited += 100) {
      try {
        await (await fs.open(lock, 'wx')).close();
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const st = await fs.stat(lock).catch(() => null);
        // A launcher that died holding the lock leaves it behind; launching takes milliseconds.
        if (st && Date.now() - st.mtimeMs > LOCK_STALE_MS) await fs.rm(lock, { force: true });
        else if (waited > 2 * LOCK_STALE_MS) throw new Error(`timed out waiting for ${lock}`);
        await sleep(100);
      }
    }
    try {
      return await work();
    } finally {
      await fs.rm(lock, { force: true });
    }
  }

  async function signalGroup(pid: number, sig: NodeJS.Signals): Promise<void> {
    try {
      process.kill(-pid, sig); // the wrapper leads its own process group (detached): this reaches the trainer too
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
  }

  async function waitDead(info: PidInfo, ms: number): Promise<boolean> {
    for (let t = 0; t < ms; t += 50) {
      if (!(await isAlive(info))) return true;
      await sleep(50);
    }
    return !(await isAlive(info));
  }

  return {
    name: 'local',

    async provision(_jobId: string): Promise<MachineHandle> {
      await fs.mkdir(path.join(opts.workDir, 'jobs'), { recursive: true });
      return { backend: 'local', machineId: 'local', details: { workDir: opts.workDir } };
    },

    async launch(_machine: MachineHandle, manifest: TrainerJobManifest): Promise<void> {
      const dir = jobDir(manifest.jobId);
      await fs.mkdir(dir, { recursive: true });
      await withLaunchLock(dir, async () => {
        if (await liveJob(dir)) return; // re-attach: the job is still running
        await writeAtomic(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
        await fs.rm(path.join(dir, 'exit_code'), { force: true });
        // Close a line torn by a kill so the next run's first event starts on a line of its own.
        const events = path.join(dir, 'events.jsonl');
        const last = await tail(events, 1);
        if (last !== undefined && last !== '' && last !== '\n') await fs.appendFile(events, '\n');

        const child = spawn('sh', ['-c', WRAPPER, 'msm-job', trainerDir, python, dir], {
          detached: true,
          stdio: 'ignore',
          env: {
            ...process.env,
            ...opts.env,
            PYTHONUNBUFFERED: '1',
            PYTHONPATH: [trainerDir, opts.env?.PYTHONPATH ?? process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
          },
        });
        child.on('error', () => undefined); // reported through poll: no pid file -> lost
        if (child.pid === undefined) throw new Error(`could not start sh for trainer job ${manifest.jobId}`);
        await writeAtomic(path.join(dir, 'pid'), `${child.pid} ${await startTimeOf(child.pid)}\n`);
        child.unref();
      });
    },

    async poll(_machine: MachineHandle, jobId: string, fromEvent: number): Promise<JobStatus> {
      const dir = jobDir(jobId);
      // State first, events second: an exited job's events are then all on disk.
      let exitCode = await readExitCode(dir);
      let state: JobStatus['state'];
      if (exitCode !== null) state = 'exited';
      else if (await liveJob(dir)) state = 'running';
      else {
        exitCode = await readExitCode(dir); // it may have exited between the two checks
        state = exitCode !== null ? 'exited' : 'lost';
      }
      const all = parseEvents((await readOrNull(path.join(dir, 'events.jsonl'))) ?? '');
      return {
        state,
        ...(exitCode !== null ? { exitCode } : {}),
        events: all.slice(Math.max(0, fromEvent)),
        nextEvent: all.length,
        stderrTail: await tail(path.join(dir, 'stderr.log'), STDERR_TAIL_BYTES),
      };
    },

    async cancel(_machine: MachineHandle, jobId: string): Promise<void> {
      const dir = jobDir(jobId);
      const info = await liveJob(dir);
      if (!info) return;
      await signalGroup(info.pid, 'SIGTERM');
      if (await waitDead(info, graceMs)) return;
      await signalGroup(info.pid, 'SIGKILL');
      if (!(await waitDead(info, 5000))) throw new Error(`trainer job ${jobId} (pid ${info.pid}) survived SIGKILL`);
    },

    async release(_machine: MachineHandle): Promise<void> {
      // Nothing to give back: the local machine is not rented.
    },
  };
}
