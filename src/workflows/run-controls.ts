import { setHandler } from '@temporalio/workflow';
import { pauseSignal, resumeSignal, setConcurrencyUpdate } from './definitions';

/**
 * The pause / resume signals and the setConcurrency update of a workflow that runs children in a bounded
 * loop (msmExperiment's cells, msmSweep's points): they set `paused` and, through `setConcurrency`, the limit.
 */
export function handleRunControls(state: { paused: boolean }, setConcurrency: (n: number) => number): void {
  setHandler(pauseSignal, () => void (state.paused = true));
  setHandler(resumeSignal, () => void (state.paused = false));
  setHandler(setConcurrencyUpdate, setConcurrency, {
    validator: (n) => {
      if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error('concurrency must be an integer in 1..64');
    },
  });
}
