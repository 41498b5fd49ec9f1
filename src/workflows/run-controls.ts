import { setHandler } from '@temporalio/workflow';
import { pauseSignal, resumeSignal, setConcurrencyUpdate } from './definitions';

/**
 * The pause / resume signals and the setConcurrency update of a workflow that runs work in a bounded loop
 * (msmExperiment's cells, msmSweep's points: up to 64; LLM activities of corpus and AFT data generation: up
 * to 256): they set `paused` and, through `setConcurrency`, the limit.
 */
export function handleRunControls(state: { paused: boolean }, setConcurrency: (n: number) => number, max = 64): void {
  setHandler(pauseSignal, () => void (state.paused = true));
  setHandler(resumeSignal, () => void (state.paused = false));
  setHandler(setConcurrencyUpdate, setConcurrency, {
    validator: (n) => {
      if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`concurrency must be an integer in 1..${max}`);
    },
  });
}
