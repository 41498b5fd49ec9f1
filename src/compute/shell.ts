import { spawn } from 'node:child_process';

/**
 * Where the job-folder scripts run: this machine (`sh -c`) or a remote one (`ssh host sh -c`). The
 * job-folder protocol is written once, as POSIX shell, and a backend only says how to reach the shell.
 */
export interface ShellResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export interface Shell {
  /** Run `sh -c script msm args...`, with `input` on stdin; rejects only when the shell cannot be reached. */
  run(script: string, args: string[], opts?: { input?: Buffer | string; timeoutMs?: number }): Promise<ShellResult>;
}

/** Quote one word for a POSIX shell. */
export function shQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export class CommandTimeoutError extends Error {}

/** Spawn a command, feed stdin, collect stdout (bytes) and stderr; kill it after `timeoutMs`. */
export function runCommand(
  cmd: string,
  args: string[],
  opts: { input?: Buffer | string; timeoutMs?: number } = {},
): Promise<ShellResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    let timedOut = false;
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, opts.timeoutMs);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-8000)));
    child.stdin.on('error', () => undefined); // a script that does not read its stdin closes it early (EPIPE)
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) reject(new CommandTimeoutError(`${cmd} did not finish within ${opts.timeoutMs} ms`));
      else resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** This machine's shell. */
export const localShell: Shell = {
  run: (script, args, opts) => runCommand('sh', ['-c', script, 'msm', ...args], opts),
};
