/**
 * `npm run bench -- train [--compile] [--batch 16] [--method lora] [--kill-resume] ...`: the trainer's
 * throughput and MFU on a random ~1B Llama on this machine's GPU. The work is Python
 * (trainer/msm_trainer/bench_train.py, which a GPU host without Node runs directly as
 * `python -m msm_trainer.bench_train`); this entry runs it with the trainer's interpreter.
 */
import { runTrainerModule } from './trainer-module';

export async function main(args: string[]): Promise<void> {
  await runTrainerModule('msm_trainer.bench_train', args);
}
