import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { format } from 'node:util';
import { vi } from 'vitest';
import { runCli } from '../../src/cli/run-cli';
import { PROJECT_ROOT } from '../../src/util/project-paths';

/** `msm <args>` as a real process from the project root (the CLI's own entry point, through tsx). */
export const runMsm = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(
    path.join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx'),
    [path.join(PROJECT_ROOT, 'src', 'cli', 'main.ts'), ...args],
    {
      encoding: 'utf8',
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...env },
    },
  );

export interface MsmRun {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * `msm <args>` in this process: the commands, exit statuses and messages of runMsm (src/cli/run-cli.ts is what
 * the entry point runs) without a process's start-up (about a second of tsx per call). The console and
 * process.stdout/stderr are captured and `env` applied for the call, then restored: one call at a time.
 * Relative paths resolve from the working folder, which vitest sets to the project root as runMsm does.
 */
export async function runMsmInProcess(args: string[], env: NodeJS.ProcessEnv = {}): Promise<MsmRun> {
  const out = { stdout: '', stderr: '' };
  const to =
    (stream: keyof typeof out) =>
    (...a: unknown[]) => {
      out[stream] += `${format(...a)}\n`;
    };
  const write = (stream: keyof typeof out) =>
    ((chunk: string | Uint8Array) => {
      out[stream] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      return true;
    }) as typeof process.stdout.write;
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const spies = [
    vi.spyOn(console, 'log').mockImplementation(to('stdout')),
    vi.spyOn(console, 'info').mockImplementation(to('stdout')),
    vi.spyOn(console, 'error').mockImplementation(to('stderr')),
    vi.spyOn(console, 'warn').mockImplementation(to('stderr')),
    vi.spyOn(process.stdout, 'write').mockImplementation(write('stdout')),
    vi.spyOn(process.stderr, 'write').mockImplementation(write('stderr')),
  ];
  setEnv(env);
  try {
    const status = await runCli(args);
    return { status, ...out };
  } finally {
    for (const spy of spies) spy.mockRestore();
    setEnv(saved);
  }
}

function setEnv(env: NodeJS.ProcessEnv): void {
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}
