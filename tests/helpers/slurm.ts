import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/temporal/dev-server';

const PROGRAMS = ['sbatch', 'squeue', 'scancel', 'scontrol', 'slurmctld', 'slurmd', 'munged'];
const APT_TIMEOUT_MS = 600_000;

const missing = () => PROGRAMS.filter((p) => spawnSync('sh', ['-c', `command -v ${p}`]).status !== 0);

/**
 * Debian's slurm-wlm and munge, installed once when missing (as tests/helpers/sshd.ts's openssh-server is by
 * set-up). Returns why the Slurm tests cannot run here, or undefined when they can: the caller skips them
 * with that reason, visibly.
 */
export function slurmUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'a Slurm test cluster needs Linux';
  if (process.getuid?.() !== 0) return 'slurmd and munged must start as root (this test runs as another user)';
  if (!missing().length) return undefined;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'slurm-wlm', 'munge'], {
    env,
    timeout: APT_TIMEOUT_MS,
    encoding: 'utf8',
  });
  const still = missing();
  if (!still.length) return undefined;
  const why = r.error?.message ?? r.stderr?.trim().split('\n').slice(-2).join(' ');
  return `apt-get install slurm-wlm munge failed (${why}); still missing: ${still.join(', ')}`;
}

/**
 * A real one-node Slurm on this machine: munged with its own key and socket, slurmctld and slurmd as root,
 * with a slurm.conf of its own (2 CPUs, state and spool under a temp dir, no accounting), all children of
 * this process and stopped by `stop`. SLURM_CONF points sbatch, squeue and scancel of this process (and
 * the shells it starts) at it.
 */
export class SlurmCluster {
  private daemons: ChildProcess[] = [];

  private constructor(
    readonly dir: string,
    readonly partition: string,
  ) {}

  get conf(): string {
    return path.join(this.dir, 'slurm.conf');
  }

  static async start(): Promise<SlurmCluster> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-slurm-'));
    const c = new SlurmCluster(dir, 'msmtest');
    for (const d of ['state', 'spool', 'munge', 'log']) mkdirSync(path.join(dir, d), { mode: 0o700 });
    writeFileSync(path.join(dir, 'munge.key'), randomBytes(1024), { mode: 0o600 });
    writeFileSync(c.conf, await c.config());
    process.env.SLURM_CONF = c.conf;
    c.spawnDaemon('munged', ['-F', '--force', ...c.mungeArgs()]);
    await c.until(() => spawnSync('munge', ['-n', '-S', c.socket]).status === 0, 'munged');
    c.spawnDaemon('slurmctld', ['-D', '-i', '-f', c.conf]);
    c.spawnDaemon('slurmd', ['-D', '-f', c.conf, '-N', c.nodeName]);
    await c.until(() => /idle/.test(c.sinfo()), 'the node to be idle');
    return c;
  }

  private get socket(): string {
    return path.join(this.dir, 'munge', 'munge.socket');
  }

  private get nodeName(): string {
    return os.hostname().split('.')[0]!;
  }

  private mungeArgs(): string[] {
    const m = path.join(this.dir, 'munge');
    return [
      `--socket=${this.socket}`,
      `--key-file=${path.join(this.dir, 'munge.key')}`,
      `--log-file=${path.join(this.dir, 'log', 'munged.log')}`,
      `--pid-file=${path.join(m, 'munged.pid')}`,
      `--seed-file=${path.join(m, 'seed')}`,
    ];
  }

  private async config(): Promise<string> {
    const [ctld, d] = [await freePort(), await freePort()];
    const at = (f: string) => path.join(this.dir, f);
    return [
      'ClusterName=msmtest',
      `SlurmctldHost=${this.nodeName}(127.0.0.1)`,
      `SlurmctldPort=${ctld}`,
      `SlurmdPort=${d}`,
      'AuthType=auth/munge',
      `AuthInfo=socket=${this.socket}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      `StateSaveLocation=${at('state')}`,
      `SlurmdSpoolDir=${at('spool')}`,
      `SlurmctldPidFile=${at('slurmctld.pid')}`,
      `SlurmdPidFile=${at('slurmd.pid')}`,
      `SlurmctldLogFile=${at('log/slurmctld.log')}`,
      `SlurmdLogFile=${at('log/slurmd.log')}`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      // Per CPU, each CPU shared by up to 2 jobs: the test's cases run at once on the 2 CPUs.
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_CPU',
      'MpiDefault=none',
      'ReturnToService=2',
      'KillWait=2', // SIGKILL 2 s after SIGTERM (scancel, time limit)
      'SchedulerParameters=sched_interval=1',
      'AccountingStorageType=accounting_storage/none',
      'JobAcctGatherType=jobacct_gather/none',
      `NodeName=${this.nodeName} NodeAddr=127.0.0.1 CPUs=2 RealMemory=2000 State=UNKNOWN`,
      `PartitionName=${this.partition} Nodes=ALL Default=YES MaxTime=10 OverSubscribe=FORCE:2 State=UP`,
      '',
    ].join('\n');
  }

  private spawnDaemon(cmd: string, args: string[]): void {
    const child = spawn(cmd, args, { stdio: 'ignore', env: { ...process.env, SLURM_CONF: this.conf } });
    this.daemons.push(child);
  }

  private sinfo(): string {
    return spawnSync('sinfo', ['--noheader', '-o', '%T'], { encoding: 'utf8' }).stdout ?? '';
  }

  private async until(ok: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!ok()) {
      const dead = this.daemons.find((d) => d.exitCode !== null);
      if (dead || Date.now() > deadline)
        throw new Error(`Slurm test cluster: no ${what} (see the logs in ${this.dir}/log)`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** A Slurm command against this cluster. */
  run(cmd: string, args: string[]): string {
    return execFileSync(cmd, args, { encoding: 'utf8', env: { ...process.env, SLURM_CONF: this.conf } });
  }

  /** Cancel every job, wait for their processes to end, then stop the daemons and remove the folder. */
  async stop(): Promise<void> {
    try {
      this.run('scancel', ['--user=root']);
      await this.until(() => this.run('squeue', ['--noheader', '-o', '%i']).trim() === '', 'empty queue');
    } catch {
      // the daemons may already be gone
    }
    for (const d of this.daemons.reverse()) {
      if (d.exitCode !== null || d.signalCode !== null) continue;
      const gone = new Promise((r) => d.once('exit', r));
      d.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      if (d.exitCode === null && d.signalCode === null) d.kill('SIGKILL');
    }
    chmodSync(this.dir, 0o700);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
