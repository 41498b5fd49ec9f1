/**
 * `npm run bench -- sample [--rounds 5] [--batch 16] [--experiment experiments/demo.json] [--device cpu]`:
 * the generate job's batched sampling vs one prompt at a time, on the experiment's eval prompts, samples
 * per prompt and maxNewTokens, every sequence forced to full length so both variants do equal work. The work
 * is Python (trainer/msm_trainer/bench_sample.py; a host without Node runs `python -m msm_trainer.bench_sample`).
 */
import { runTrainerModule } from './trainer-module';

export async function main(args: string[]): Promise<void> {
  await runTrainerModule('msm_trainer.bench_sample', args);
}
