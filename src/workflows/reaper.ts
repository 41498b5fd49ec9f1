import { ApplicationFailure, setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import type { ReaperTarget, ReapOutcome } from '../config/reaper-target';
import { cleanup } from './activity-proxies';
import { MSM_RELEASE_FAILED } from '../temporal/search-attribute-keys';

export interface ReaperInput {
  /** Each backend to look at, with the store whose job index traces its machines to workflows. */
  targets: ReaperTarget[];
}

/** What `msm reaper` schedules and starts, checked before any activity (a malformed start fails at once). */
function checkInput(input: unknown): ReaperInput {
  const targets = (input as ReaperInput | undefined)?.targets;
  const ok =
    Array.isArray(targets) &&
    targets.every((t) => t && typeof t.storeUri === 'string' && typeof t.compute?.backend === 'string');
  if (!ok)
    throw ApplicationFailure.nonRetryable(
      'msmReaper: the input must be {targets: [{storeUri, compute}]}; create it with `msm reaper <experiment-file>...`',
      'BadInput',
    );
  return input as ReaperInput;
}

/**
 * One pass of the reaper (a Schedule starts it every few minutes: `msm reaper`): release the machines of
 * msm jobs whose workflow is gone or whose ledger says released. See src/compute/reaper.ts.
 */
export async function msmReaper(input: ReaperInput): Promise<ReapOutcome[]> {
  const { targets } = checkInput(input);
  const outcomes: ReapOutcome[] = [];
  for (const t of targets) outcomes.push(...(await cleanup.reapMachines(t)));
  const count = (a: ReapOutcome['action']) => outcomes.filter((o) => o.action === a).length;
  setCurrentDetails(
    `**reaper** — ${count('released')} released, ${count('kept')} kept (workflow running), ` +
      `${count('unknown')} unknown to these stores, ${count('failed')} failed`,
  );
  if (count('failed')) upsertSearchAttributes([{ key: MSM_RELEASE_FAILED, value: true }]);
  return outcomes;
}
