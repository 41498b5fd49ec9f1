/**
 * `npm run bench -- cpu-step [--rounds 3] [--vocab 128256] [--steps 10]`: one CPU training step of the test
 * suite's small Llama (trainer/msm_trainer/bench_cpu_step.py) under glibc's default allocator settings and under
 * the ones CPU jobs get (CPU_ALLOCATOR_ENV in src/compute/from-config.ts), alternating, side by side in one run.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CPU_ALLOCATOR_ENV } from '../src/compute/from-config';
import { PROJECT_ROOT, pythonExecutable } from '../src/util/project-paths';

interface Step {
  wallSec: number;
  userSec: number;
  sysSec: number;
}

function step(env: NodeJS.ProcessEnv, args: string[]): Step {
  const r = spawnSync(pythonExecutable(), ['-m', 'msm_trainer.bench_cpu_step', ...args], {
    cwd: path.join(PROJECT_ROOT, 'trainer'),
    env,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`bench_cpu_step failed (exit ${r.status}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Step;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { rounds: { type: 'string', default: '3' }, vocab: { type: 'string' }, steps: { type: 'string' } },
  });
  const args = [...(values.vocab ? ['--vocab', values.vocab] : []), ...(values.steps ? ['--steps', values.steps] : [])];
  const plain = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MALLOC_')));
  const runs: Record<'default' | 'tuned', Step[]> = { default: [], tuned: [] };
  for (let i = 0; i < Number(values.rounds); i++) {
    runs.default.push(step(plain, args));
    runs.tuned.push(step({ ...plain, ...CPU_ALLOCATOR_ENV }, args));
  }
  const summary = (xs: Step[]) => ({
    wallSec: median(xs.map((x) => x.wallSec)),
    userSec: median(xs.map((x) => x.userSec)),
    sysSec: median(xs.map((x) => x.sysSec)),
  });
  const d = summary(runs.default);
  const t = summary(runs.tuned);
  const fmt = (s: typeof d) =>
    `${(s.wallSec * 1000).toFixed(0)} ms wall, ${(s.userSec * 1000).toFixed(0)} ms user, ${(s.sysSec * 1000).toFixed(0)} ms system`;
  console.log(`one step, median of ${values.rounds} alternating runs (${os.cpus().length} cores):`);
  console.log(`  glibc defaults:       ${fmt(d)}`);
  console.log(`  CPU_ALLOCATOR_ENV:    ${fmt(t)}`);
  console.log(`  speed-up (wall):      ${(d.wallSec / t.wallSec).toFixed(2)}×`);
  console.log(
    JSON.stringify({ bench: 'cpu-step', default: d, tuned: t, speedup: d.wallSec / t.wallSec, env: CPU_ALLOCATOR_ENV }),
  );
}
