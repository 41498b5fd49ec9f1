import {
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleOptionsAction,
} from '@temporalio/client';
import path from 'node:path';
import type { ReaperTarget, ReapOutcome } from '../compute/reaper';
import { readExperimentFile } from '../experiment/load-experiment-file';
import { experimentBaseDir } from '../plan/plan-inputs';
import { PROJECT_ROOT } from '../util/project-paths';
import { msmReaper } from '../workflows';

/** As the experiment's loading resolves `store`: URIs pass through, paths resolve against baseDir. */
const storeUriOf = (store: string, baseDir: string) =>
  /^[a-z][a-z0-9+.-]*:\/\//i.test(store) ? store : 'file://' + path.resolve(baseDir, store);

export const REAPER_SCHEDULE_ID = 'msm-reaper';
const RENTED = new Set(['runpod']);

/**
 * The reaper's targets: each experiment file's rented backend with its store, once each. Backends that rent
 * nothing (local, ssh hosts) are left out: an orphaned job there stops itself (compute.unpolledTimeoutSec).
 */
export function reaperTargets(files: string[], log: (line: string) => void = console.log): ReaperTarget[] {
  if (!files.length)
    throw new Error(
      'reaper: name the experiment files whose machines to watch, e.g. msm reaper my-runpod-experiment.yaml',
    );
  const seen = new Map<string, ReaperTarget>();
  for (const file of files) {
    const { experiment } = readExperimentFile(file);
    if (!RENTED.has(experiment.compute.backend)) {
      log(
        `${file}: compute.backend ${experiment.compute.backend} rents nothing; its jobs stop themselves when unpolled`,
      );
      continue;
    }
    const { device: _device, ...compute } = experiment.compute;
    const target = {
      storeUri: storeUriOf(experiment.store, experimentBaseDir(experiment, PROJECT_ROOT)),
      compute: experiment.compute,
    };
    seen.set(JSON.stringify([target.storeUri, compute]), target);
  }
  if (!seen.size)
    throw new Error('reaper: none of these experiments rents machines (compute.backend runpod): nothing to reap');
  return [...seen.values()];
}

const actionOf = (targets: ReaperTarget[]): ScheduleOptionsAction => ({
  type: 'startWorkflow',
  workflowType: msmReaper,
  args: [{ targets }],
  taskQueue: 'msm',
  workflowId: REAPER_SCHEDULE_ID,
});

/**
 * `msm reaper <experiment-file>... [--every 10m] [--once]`: create (or update) the Schedule that runs the
 * reaper every `every`; --once runs one pass now and prints what it did.
 */
export async function reaperCommand(
  c: Client,
  files: string[],
  opts: { every?: string; once?: boolean; id?: string },
): Promise<ReapOutcome[] | void> {
  const targets = reaperTargets(files);
  if (opts.once) {
    const outcomes = await c.workflow.execute(msmReaper, {
      taskQueue: 'msm',
      workflowId: `${opts.id ?? REAPER_SCHEDULE_ID}-once-${Date.now()}`,
      args: [{ targets }],
    });
    for (const o of outcomes) console.log(`${o.action.padEnd(8)} ${o.machineId} (job ${o.jobId}): ${o.reason}`);
    if (!outcomes.length) console.log('no machines of msm jobs');
    return outcomes;
  }
  const every = (opts.every ?? '10m') as `${number}m`;
  const scheduleId = opts.id ?? REAPER_SCHEDULE_ID;
  const spec = { intervals: [{ every }] };
  try {
    await c.schedule.create({
      scheduleId,
      spec,
      action: actionOf(targets),
      // A pass that is still running when the next is due: skip the next.
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '10m' },
      state: { note: `msm reaper of ${files.join(', ')}` },
    });
    console.log(`created schedule ${scheduleId}: the reaper runs every ${every}`);
  } catch (e) {
    if (!(e instanceof ScheduleAlreadyRunning)) throw e;
    await c.schedule.getHandle(scheduleId).update((prev) => ({ ...prev, spec, action: actionOf(targets) }));
    console.log(`updated schedule ${scheduleId}: the reaper runs every ${every}`);
  }
}
