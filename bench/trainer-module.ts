/**
 * Run one of the trainer's Python bench modules with the trainer's interpreter, its output on this terminal,
 * and exit with its code when it fails.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT, pythonExecutable } from '../src/util/project-paths';

export async function runTrainerModule(module: string, args: string[]): Promise<void> {
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(pythonExecutable(), ['-m', module, ...args], {
      cwd: path.join(PROJECT_ROOT, 'trainer'),
      stdio: 'inherit',
    });
    child.on('error', reject);
    child.on('exit', (c) => resolve(c ?? 1));
  });
  if (code !== 0) process.exit(code);
}
