import { mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CommandTimeoutError, runCommand, shQuote, type Shell, type ShellResult } from './shell';

/**
 * A Shell on a remote machine through the system `ssh` binary: key only (BatchMode), a project known_hosts
 * file that trusts a host on first contact and refuses it if its key changes, and one control master
 * per backend so the poll every second does not pay a handshake each time.
 */
export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** Private key on this machine. */
  identityFile: string;
  knownHostsFile: string;
  connectTimeoutSec: number;
  /** Limit for one remote command (connection included) unless the call sets its own. */
  commandTimeoutMs: number;
}

/** ssh could not reach or log in to the host (exit 255, or no answer in time). */
export class HostUnreachableError extends Error {
  constructor(
    target: SshTarget,
    readonly detail: string,
  ) {
    super(`ssh ${target.user}@${target.host}:${target.port} failed: ${detail}`);
    this.name = 'HostUnreachableError';
  }
}

/** ssh's own failures exit 255; the remote scripts never do. */
const SSH_FAILED = 255;

let connections = 0;

export class SshConnection implements Shell {
  /** Per connection object, not per host: closing it (release) cannot cut another worker's sessions. */
  private readonly controlDir = path.join(os.tmpdir(), `msm-ssh-${process.pid}-${++connections}`);

  constructor(readonly target: SshTarget) {}

  private options(): string[] {
    const t = this.target;
    const o = {
      BatchMode: 'yes',
      IdentitiesOnly: 'yes',
      IdentityFile: t.identityFile,
      Port: String(t.port),
      User: t.user,
      StrictHostKeyChecking: 'accept-new',
      UserKnownHostsFile: t.knownHostsFile,
      HashKnownHosts: 'no', // the project's file stays readable: which hosts it trusts, by name
      ConnectTimeout: String(t.connectTimeoutSec),
      // A host that stops answering mid-session drops the master within ~3 intervals instead of hanging.
      ServerAliveInterval: String(Math.max(1, Math.ceil(t.connectTimeoutSec / 2))),
      ServerAliveCountMax: '3',
      ControlMaster: 'auto',
      ControlPath: path.join(this.controlDir, '%C'),
      ControlPersist: '60',
      LogLevel: 'ERROR',
    };
    return Object.entries(o).flatMap(([k, v]) => ['-o', `${k}=${v}`]);
  }

  async run(
    script: string,
    args: string[],
    opts: { input?: Buffer | string; timeoutMs?: number } = {},
  ): Promise<ShellResult> {
    // ssh joins its arguments into one line for the remote login shell: quote every word.
    const remote = ['sh', '-c', script, 'msm', ...args].map(shQuote).join(' ');
    let r: ShellResult;
    mkdirSync(this.controlDir, { recursive: true, mode: 0o700 });
    try {
      r = await runCommand('ssh', [...this.options(), '--', this.target.host, remote], {
        input: opts.input,
        timeoutMs: opts.timeoutMs ?? this.target.commandTimeoutMs,
      });
    } catch (e) {
      if (!(e instanceof CommandTimeoutError)) throw e;
      await this.close(); // a master stuck on a silent host would stall every later command too
      throw new HostUnreachableError(
        this.target,
        `no answer within ${opts.timeoutMs ?? this.target.commandTimeoutMs} ms`,
      );
    }
    if (r.code === SSH_FAILED) throw new HostUnreachableError(this.target, r.stderr.trim() || 'exit 255');
    return r;
  }

  /** Stop the control master (its sessions end with it); the next command opens a new one. */
  async close(): Promise<void> {
    await runCommand('ssh', [...this.options(), '-O', 'exit', '--', this.target.host], { timeoutMs: 5000 }).catch(
      () => undefined,
    );
    rmSync(this.controlDir, { recursive: true, force: true });
  }
}
