import {
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleHandle,
  type ScheduleOptionsAction,
  type ScheduleSpec,
} from '@temporalio/client';
import { readExperimentFile, readStructuredFile } from '../experiment/load-experiment-file';
import { isSweep, loadSweepFile } from '../sweep/load-sweep-file';
import { msmExperiment, msmSweep } from '../workflows';
import { freezeExperimentInput, freezeSweepInput } from './freeze-inputs';

export interface ScheduleFlags {
  cron?: string;
  every?: string;
  overlap?: string;
  catchup?: string;
  pauseOnFailure?: boolean;
  note?: string;
  paused?: boolean;
  from?: string;
  to?: string;
}

const OVERLAP: Record<string, ScheduleOverlapPolicy> = {
  SKIP: ScheduleOverlapPolicy.SKIP,
  BUFFER_ONE: ScheduleOverlapPolicy.BUFFER_ONE,
  BUFFER_ALL: ScheduleOverlapPolicy.BUFFER_ALL,
  CANCEL_OTHER: ScheduleOverlapPolicy.CANCEL_OTHER,
  TERMINATE_OTHER: ScheduleOverlapPolicy.TERMINATE_OTHER,
  ALLOW_ALL: ScheduleOverlapPolicy.ALLOW_ALL,
};

function specOf(f: ScheduleFlags): ScheduleSpec {
  if (!!f.cron === !!f.every)
    throw new Error('schedule create: give one of --cron "<expr>" (e.g. "0 3 * * 1") or --every <duration> (e.g. 24h)');
  return f.cron ? { cronExpressions: [f.cron] } : { intervals: [{ every: f.every! as `${number}h` }] };
}

/**
 * The schedule's action: start msmSweep or msmExperiment with the file's content (checked as `msm sweep`
 * or `msm start` would), not its path, and the hashes of its input files, frozen now: every scheduled run
 * runs what was scheduled, on the bytes it had then (`msm schedule update` freezes them again).
 */
async function actionOf(scheduleId: string, file: string): Promise<ScheduleOptionsAction> {
  const base = { taskQueue: 'msm', workflowId: scheduleId };
  if (isSweep(readStructuredFile(file))) {
    const input = await freezeSweepInput(loadSweepFile(file).input);
    return { type: 'startWorkflow', workflowType: msmSweep, args: [input], ...base };
  }
  const input = await freezeExperimentInput(readExperimentFile(file).raw, file);
  return { type: 'startWorkflow', workflowType: msmExperiment, args: [input], ...base };
}

const USAGE =
  'schedule: create <id> <file> (--cron EXPR | --every DURATION) [--overlap BUFFER_ONE] [--catchup 1d] [--pause-on-failure] [--note TEXT] [--paused] | update <id> <file> | list | describe <id> | pause <id> | unpause <id> | trigger <id> | backfill <id> --from ISO --to ISO | delete <id>';

/** `msm schedule create|list|describe|pause|unpause|trigger|backfill|delete` over Temporal Schedules. */
export async function scheduleCommand(c: Client, args: string[], f: ScheduleFlags): Promise<void> {
  const [sub, id, file] = args;
  const need = (v: string | undefined, what: string) => {
    if (!v) throw new Error(`schedule ${sub}: missing ${what}`);
    return v;
  };
  const handle = () => c.schedule.getHandle(need(id, 'a schedule id'));
  switch (sub) {
    case 'create':
      return createSchedule(c, need(id, 'a schedule id'), need(file, 'a sweep or experiment file'), f);
    case 'update':
      return updateSchedule(handle(), need(file, 'a sweep or experiment file'));
    case 'list':
      for await (const s of c.schedule.list())
        console.log(
          `${s.scheduleId}\t${s.action?.type === 'startWorkflow' ? s.action.workflowType : ''}\t${s.state.paused ? 'paused' : 'active'}\t${s.state.note ?? ''}`,
        );
      return;
    case 'describe':
      return describeSchedule(handle());
    case 'pause':
      await handle().pause(f.note);
      console.log(`paused ${id}`);
      return;
    case 'unpause':
      await handle().unpause(f.note);
      console.log(`unpaused ${id}`);
      return;
    case 'trigger':
      await handle().trigger();
      console.log(`triggered ${id}`);
      return;
    case 'backfill':
      return backfillSchedule(handle(), need(f.from, '--from <ISO time>'), need(f.to, '--to <ISO time>'), f);
    case 'delete':
      await handle().delete();
      console.log(`deleted ${id}`);
      return;
    default:
      throw new Error(USAGE);
  }
}

async function createSchedule(c: Client, id: string, file: string, f: ScheduleFlags): Promise<void> {
  const overlap = OVERLAP[(f.overlap ?? 'BUFFER_ONE').toUpperCase()];
  if (overlap === undefined)
    throw new Error(`schedule create: --overlap must be one of ${Object.keys(OVERLAP).join(', ')}`);
  const h = await c.schedule.create({
    scheduleId: id,
    spec: specOf(f),
    action: await actionOf(id, file),
    policies: { overlap, catchupWindow: (f.catchup ?? '1d') as '1d', pauseOnFailure: f.pauseOnFailure ?? false },
    state: { paused: f.paused ?? false, note: f.note ?? `msm schedule of ${file}` },
  });
  console.log(
    `created schedule ${h.scheduleId}; its runs are found with: temporal workflow list --query "TemporalScheduledById = '${h.scheduleId}'"`,
  );
}

/** New inputs for a schedule: the file read, checked and its input files frozen again; spec and policies kept. */
async function updateSchedule(h: ScheduleHandle, file: string): Promise<void> {
  const action = await actionOf(h.scheduleId, file);
  await h.update((prev) => ({ ...prev, action }));
  console.log(`updated ${h.scheduleId}: its next runs use ${file} and its input files as they are now`);
}

async function describeSchedule(h: ScheduleHandle): Promise<void> {
  const d = await h.describe();
  const { action, spec, policies, state, info } = d;
  const summary = {
    scheduleId: d.scheduleId,
    workflowType: action.type === 'startWorkflow' ? action.workflowType : undefined,
    spec,
    policies,
    state,
    recentRuns: info.recentActions.map((a) => a.action.workflow.workflowId),
    nextActionTimes: info.nextActionTimes,
  };
  console.log(JSON.stringify(summary, null, 2));
}

async function backfillSchedule(h: ScheduleHandle, from: string, to: string, f: ScheduleFlags): Promise<void> {
  const start = new Date(from);
  const end = new Date(to);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end <= start)
    throw new Error('schedule backfill: --from and --to must be ISO times, --from before --to');
  await h.backfill({ start, end, overlap: OVERLAP[(f.overlap ?? 'BUFFER_ALL').toUpperCase()] });
  console.log(`backfilled ${h.scheduleId} from ${start.toISOString()} to ${end.toISOString()}`);
}
