import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/util/project-paths';

/** The real worker entry point in its own process, so a test can SIGKILL it like a crashed machine. */
export class WorkerProcess {
  private constructor(
    readonly child: ChildProcess,
    readonly log: string[],
  ) {}

  /** `args`: more of main.ts's flags, e.g. `['--queues', 'msm-llm']` for one activity queue alone. */
  static async start(address: string, env: Record<string, string>, args: string[] = []): Promise<WorkerProcess> {
    // `node --import tsx` keeps it one process (the tsx CLI would add a parent that a SIGKILL leaves orphaned).
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(PROJECT_ROOT, 'src', 'workers', 'main.ts'), '--address', address, ...args],
      {
        cwd: PROJECT_ROOT,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const log: string[] = [];
    const w = new WorkerProcess(child, log);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker did not start in 120 s:\n${log.join('')}`)), 120_000);
      const onData = (d: Buffer) => {
        log.push(d.toString());
        if (d.toString().includes('msm worker ready')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`worker exited with ${code} at start:\n${log.join('')}`));
      });
    });
    child.removeAllListeners('exit');
    return w;
  }

  /** Crash: no graceful shutdown, in-flight activities are abandoned. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill(signal);
    await gone;
  }
}
