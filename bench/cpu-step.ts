/**
 * `npm run bench -- cpu-step [--rounds 3] [--vocab 128256] [--steps 10] [--load N]`: one CPU training step of
 * the test suite's small Llama (trainer/msm_trainer/bench_cpu_step.py) under glibc's and OpenMP's defaults and
 * under the environment CPU jobs get (CPU_JOB_ENV in src/compute/from-config.ts), alternating, side by side in
 * one run. `--load N` runs N busy processes meanwhile: a job beside other work, as in the test suite's two
 * streams or a worker running generation and training at once.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CPU_JOB_ENV } from '../src/compute/from-config';
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
    options: {
      rounds: { type: 'string', default: '3' },
      vocab: { type: 'string' },
      steps: { type: 'string' },
      load: { type: 'string', default: '0' },
    },
  });
  const args = [...(values.vocab ? ['--vocab', values.vocab] : []), ...(values.steps ? ['--steps', values.steps] : [])];
  const plain = Object.fromEntries(Object.entries(process.env).filter(([k]) => !(k in CPU_JOB_ENV)));
  const load = Number(values.load);
  const busy: ChildProcess[] = Array.from({ length: load }, () =>
    spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
  );
  const runs: Record<'default' | 'tuned', Step[]> = { default: [], tuned: [] };
  try {
    for (let i = 0; i < Number(values.rounds); i++) {
      runs.default.push(step(plain, args));
      runs.tuned.push(step({ ...plain, ...CPU_JOB_ENV }, args));
    }
  } finally {
    for (const b of busy) b.kill('SIGKILL');
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
  console.log(
    `one step, median of ${values.rounds} alternating runs (${os.cpus().length} cores, ${load} busy processes beside):`,
  );
  console.log(`  defaults:             ${fmt(d)}`);
  console.log(`  CPU_JOB_ENV:          ${fmt(t)}`);
  console.log(`  speed-up (wall):      ${(d.wallSec / t.wallSec).toFixed(2)}×`);
  console.log(
    JSON.stringify({ bench: 'cpu-step', load, default: d, tuned: t, speedup: d.wallSec / t.wallSec, env: CPU_JOB_ENV }),
  );
}
