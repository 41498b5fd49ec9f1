/**
 * `npm run bench -- train [--compile] [--batch 16] [--method lora] [--kill-resume] ...`: the trainer's
 * throughput and MFU on a random ~1B Llama on this machine's GPU. The work is Python
 * (trainer/msm_trainer/bench_train.py, which a GPU host without Node runs directly as
 * `python -m msm_trainer.bench_train`); this entry runs it with the trainer's interpreter.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT, pythonExecutable } from '../src/util/project-paths';

export async function main(args: string[]): Promise<void> {
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(pythonExecutable(), ['-m', 'msm_trainer.bench_train', ...args], {
      cwd: path.join(PROJECT_ROOT, 'trainer'),
      stdio: 'inherit',
    });
    child.on('error', reject);
    child.on('exit', (c) => resolve(c ?? 1));
  });
  if (code !== 0) process.exit(code);
}
