import { ScheduleOverlapPolicy, type Client, type ScheduleOptionsAction, type ScheduleSpec } from '@temporalio/client';
import { readExperimentFile, readStructuredFile } from '../config/load-experiment-file';
import { isSweep, loadSweepFile } from '../sweep/load-sweep-file';
import { msmExperiment, msmSweep } from '../workflows';

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
 * or `msm start` would), not its path, so every scheduled run runs what was scheduled.
 */
function actionOf(scheduleId: string, file: string): ScheduleOptionsAction {
  const base = { taskQueue: 'msm', workflowId: scheduleId };
  if (isSweep(readStructuredFile(file)))
    return { type: 'startWorkflow', workflowType: msmSweep, args: [loadSweepFile(file).input], ...base };
  return { type: 'startWorkflow', workflowType: msmExperiment, args: [readExperimentFile(file).raw], ...base };
}

/** `msm schedule create|list|describe|pause|unpause|trigger|backfill|delete` over Temporal Schedules. */
export async function scheduleCommand(c: Client, args: string[], f: ScheduleFlags): Promise<void> {
  const [sub, id, file] = args;
  const need = (v: string | undefined, what: string) => {
    if (!v) throw new Error(`schedule ${sub}: missing ${what}`);
    return v;
  };
  switch (sub) {
    case 'create': {
      const overlap = OVERLAP[(f.overlap ?? 'BUFFER_ONE').toUpperCase()];
      if (overlap === undefined)
        throw new Error(`schedule create: --overlap must be one of ${Object.keys(OVERLAP).join(', ')}`);
      const h = await c.schedule.create({
        scheduleId: need(id, 'a schedule id'),
        spec: specOf(f),
        action: actionOf(id, need(file, 'a sweep or experiment file')),
        policies: { overlap, catchupWindow: (f.catchup ?? '1d') as '1d', pauseOnFailure: f.pauseOnFailure ?? false },
        state: { paused: f.paused ?? false, note: f.note ?? `msm schedule of ${file}` },
      });
      console.log(
        `created schedule ${h.scheduleId}; its runs are found with: temporal workflow list --query "TemporalScheduledById = '${h.scheduleId}'"`,
      );
      return;
    }
    case 'list':
      for await (const s of c.schedule.list())
        console.log(
          `${s.scheduleId}\t${s.action?.type === 'startWorkflow' ? s.action.workflowType : ''}\t${s.state.paused ? 'paused' : 'active'}\t${s.state.note ?? ''}`,
        );
      return;
    case 'describe': {
      const d = await c.schedule.getHandle(need(id, 'a schedule id')).describe();
      const { action, spec, policies, state, info } = d;
      const recent = info.recentActions.map((a) => a.action.workflow.workflowId);
      console.log(
        JSON.stringify(
          {
            scheduleId: d.scheduleId,
            workflowType: action.type === 'startWorkflow' ? action.workflowType : undefined,
            spec,
            policies,
            state,
            recentRuns: recent,
            nextActionTimes: info.nextActionTimes,
          },
          null,
          2,
        ),
      );
      return;
    }
    case 'pause':
      await c.schedule.getHandle(need(id, 'a schedule id')).pause(f.note);
      console.log(`paused ${id}`);
      return;
    case 'unpause':
      await c.schedule.getHandle(need(id, 'a schedule id')).unpause(f.note);
      console.log(`unpaused ${id}`);
      return;
    case 'trigger':
      await c.schedule.getHandle(need(id, 'a schedule id')).trigger();
      console.log(`triggered ${id}`);
      return;
    case 'backfill': {
      const start = new Date(need(f.from, '--from <ISO time>'));
      const end = new Date(need(f.to, '--to <ISO time>'));
      if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end <= start)
        throw new Error('schedule backfill: --from and --to must be ISO times, --from before --to');
      await c.schedule
        .getHandle(need(id, 'a schedule id'))
        .backfill({ start, end, overlap: OVERLAP[(f.overlap ?? 'BUFFER_ALL').toUpperCase()] });
      console.log(`backfilled ${id} from ${start.toISOString()} to ${end.toISOString()}`);
      return;
    }
    case 'delete':
      await c.schedule.getHandle(need(id, 'a schedule id')).delete();
      console.log(`deleted ${id}`);
      return;
    default:
      throw new Error(
        'schedule: create <id> <file> (--cron EXPR | --every DURATION) [--overlap BUFFER_ONE] [--catchup 1d] [--pause-on-failure] [--note TEXT] [--paused] | list | describe <id> | pause <id> | unpause <id> | trigger <id> | backfill <id> --from ISO --to ISO | delete <id>',
      );
  }
}
