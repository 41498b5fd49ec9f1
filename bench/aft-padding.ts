/**
 * `npm run bench -- aft-padding [--rows 256] [--seq-len 4096] [--micro 4] [--mean 500] [--sd 150]`: the tokens an
 * AFT forward/backward processes with and without trimming each micro-batch to its longest row, and both
 * timed side by side on a small random Llama (trainer/msm_trainer/bench_padding.py).
 */
import { runTrainerModule } from './trainer-module';

export async function main(args: string[]): Promise<void> {
  await runTrainerModule('msm_trainer.bench_padding', args);
}
