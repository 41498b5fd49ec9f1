import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/temporal/dev-server';
import { processes } from './job-processes';

const SSHD = '/usr/sbin/sshd';

/** Every process below `root` in the process tree. */
function descendants(root: number): number[] {
  const all = processes();
  const out: number[] = [];
  for (let todo = [root]; todo.length;) {
    const parent = todo.pop();
    const kids = all.filter((p) => p.ppid === parent).map((p) => p.pid);
    out.push(...kids);
    todo.push(...kids);
  }
  return out;
}

function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

/**
 * A real OpenSSH server on 127.0.0.1 for this user, with its own host key, client key, authorized_keys
 * and a free port, in a temp folder. `kill` and `freeze` stand for a machine that is gone or silent.
 */
export class Sshd {
  private child: ChildProcess | null = null;
  private log = '';

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly user: string,
  ) {}

  get identityFile(): string {
    return path.join(this.dir, 'client_key');
  }

  /** `env`: more variables every session gets (e.g. SLURM_CONF, as a cluster's login node sets it). */
  static async start(env: Record<string, string> = {}): Promise<Sshd> {
    if (!existsSync(SSHD)) throw new Error(`${SSHD} is missing: run scripts/setup.sh (it installs openssh-server)`);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-sshd-'));
    for (const key of ['host_key', 'client_key'])
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'msm-test', '-f', path.join(dir, key)]);
    writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(path.join(dir, 'client_key.pub')));
    // Keys in a temp folder (StrictModes off), no PAM, no passwords: only the generated client key gets in.
    const config = [
      'ListenAddress 127.0.0.1',
      `HostKey ${dir}/host_key`,
      `PidFile ${dir}/sshd.pid`,
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      'StrictModes no',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'PermitRootLogin prohibit-password',
      // A remote host's own HOME: sessions do not run this machine's shell start-up files (a pyenv there
      // takes a lock on every start, left behind when a test kills a session mid-start, hanging the rest).
      `SetEnv HOME=${dir}/home ${Object.entries(env)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`.trim(),
    ];
    mkdirSync(path.join(dir, 'home'));
    writeFileSync(path.join(dir, 'sshd_config'), config.join('\n') + '\n');
    // Debian's sshd refuses to start as root without its privilege-separation folder.
    if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const sshd = new Sshd(dir, await freePort(), os.userInfo().username);
    await sshd.listen();
    return sshd;
  }

  private async listen(): Promise<void> {
    // -D: stay in the foreground (our child); -e: log to stderr, where "Server listening" says it is ready.
    const child = spawn(
      SSHD,
      ['-D', '-e', '-o', 'LogLevel=INFO', '-f', path.join(this.dir, 'sshd_config'), '-p', String(this.port)],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child = child;
    this.log = ''; // a restart waits for its own "Server listening"
    child.stderr!.on('data', (d: Buffer) => (this.log = (this.log + d.toString()).slice(-8000)));
    const deadline = Date.now() + 10_000;
    while (!this.log.includes('Server listening')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`sshd did not start:\n${this.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The listener and every connection it serves. */
  private processes(): number[] {
    const pid = this.child?.pid;
    return pid === undefined || this.child!.exitCode !== null ? [] : [pid, ...descendants(pid)];
  }

  /** The machine is gone: SIGKILL the server and its sessions (jobs it started live on, as on a real host). */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    signal(this.processes(), 'SIGKILL');
    await gone;
  }

  /** The machine stops answering (a network black hole): SIGSTOP the server and its sessions. */
  freeze(): number[] {
    const pids = this.processes();
    signal(pids, 'SIGSTOP');
    return pids;
  }

  thaw(pids: number[]): void {
    signal(pids, 'SIGCONT');
  }

  /** Start again on the same port with the same keys (a machine that comes back). */
  async restart(): Promise<void> {
    await this.kill();
    await this.listen();
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
