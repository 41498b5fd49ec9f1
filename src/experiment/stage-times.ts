/**
 * Where an experiment's wall clock went, read from Temporal's histories: the experiment workflow and every
 * child workflow below it (corpus, training runs, evaluations, the report), each activity's scheduled,
 * started and closed times. Stages are unions of intervals, so cells that train and evaluate side by side
 * count once per stage; the stages of a run overlap, and their sum may exceed the total.
 */

/** The parts of a history event this reads (structurally a `temporal.api.history.v1.IHistoryEvent`). */
export interface HistoryEventLike {
  eventId?: unknown;
  eventTime?: { seconds?: unknown; nanos?: number | null } | null;
  workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string | null } | null } | null;
  activityTaskScheduledEventAttributes?: { activityType?: { name?: string | null } | null } | null;
  activityTaskStartedEventAttributes?: { scheduledEventId?: unknown } | null;
  activityTaskCompletedEventAttributes?: { scheduledEventId?: unknown } | null;
  activityTaskFailedEventAttributes?: { scheduledEventId?: unknown } | null;
  activityTaskTimedOutEventAttributes?: { scheduledEventId?: unknown } | null;
  activityTaskCanceledEventAttributes?: { scheduledEventId?: unknown } | null;
  workflowExecutionCompletedEventAttributes?: unknown;
  workflowExecutionFailedEventAttributes?: unknown;
  workflowExecutionTimedOutEventAttributes?: unknown;
  workflowExecutionCanceledEventAttributes?: unknown;
  workflowExecutionTerminatedEventAttributes?: unknown;
  workflowExecutionContinuedAsNewEventAttributes?: unknown;
  childWorkflowExecutionStartedEventAttributes?: {
    workflowExecution?: { workflowId?: string | null; runId?: string | null } | null;
  } | null;
}

/** One workflow run or one activity (all its attempts), in epoch milliseconds. */
export interface Span {
  kind: 'workflow' | 'activity';
  /** The workflow's or the activity's type. */
  type: string;
  /** The workflow's id, or for an activity the id of the workflow that ran it. */
  workflowId: string;
  start: number;
  end: number;
  /** When an activity's last attempt started: start..started is waiting for a worker slot plus any failed attempts. */
  started?: number;
}

/** Timestamps arrive as protobuf Longs, numbers or strings; all print as their decimal value. */
const eventMs = (e: HistoryEventLike): number =>
  Number(String(e.eventTime?.seconds ?? 0)) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);

const closed = (e: HistoryEventLike) =>
  !!(
    e.workflowExecutionCompletedEventAttributes ??
    e.workflowExecutionFailedEventAttributes ??
    e.workflowExecutionTimedOutEventAttributes ??
    e.workflowExecutionCanceledEventAttributes ??
    e.workflowExecutionTerminatedEventAttributes ??
    e.workflowExecutionContinuedAsNewEventAttributes
  );

/**
 * The spans one history holds (the workflow itself and its activities) and the child runs it started. A
 * workflow still open ends at `now` (a run under way: its stages so far); its activities under way are left out.
 */
export function spansOfHistory(
  workflowId: string,
  events: readonly HistoryEventLike[],
  now = Date.now(),
): { spans: Span[]; children: Array<{ workflowId: string; runId?: string }> } {
  if (!events.length) throw new Error(`workflow ${workflowId}: empty history`);
  const last = events[events.length - 1];
  const spans: Span[] = [
    {
      kind: 'workflow',
      type: events[0].workflowExecutionStartedEventAttributes?.workflowType?.name ?? 'unknown',
      workflowId,
      start: eventMs(events[0]),
      end: closed(last) ? eventMs(last) : now,
    },
  ];
  const scheduled = new Map<string, { type: string; at: number; started?: number }>();
  const children: Array<{ workflowId: string; runId?: string }> = [];
  for (const e of events) {
    const at = eventMs(e);
    const sched = e.activityTaskScheduledEventAttributes;
    if (sched) scheduled.set(String(e.eventId), { type: sched.activityType?.name ?? 'unknown', at });
    const started = e.activityTaskStartedEventAttributes;
    if (started) {
      const s = scheduled.get(String(started.scheduledEventId));
      if (s) s.started = at;
    }
    const done =
      e.activityTaskCompletedEventAttributes ??
      e.activityTaskFailedEventAttributes ??
      e.activityTaskTimedOutEventAttributes ??
      e.activityTaskCanceledEventAttributes;
    if (done) {
      const s = scheduled.get(String(done.scheduledEventId));
      if (s) spans.push({ kind: 'activity', type: s.type, workflowId, start: s.at, end: at, started: s.started });
    }
    const child = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
    if (child?.workflowId) children.push({ workflowId: child.workflowId, runId: child.runId ?? undefined });
  }
  return { spans, children };
}

/** Every span of a workflow and, recursively, of the child workflows it started. */
export async function spansOfTree(
  workflowId: string,
  history: (workflowId: string, runId?: string) => Promise<readonly HistoryEventLike[]>,
  runId?: string,
  now = Date.now(),
): Promise<Span[]> {
  const { spans, children } = spansOfHistory(workflowId, await history(workflowId, runId), now);
  for (const c of children) spans.push(...(await spansOfTree(c.workflowId, history, c.runId, now)));
  return spans;
}

/** Seconds covered by the union of the intervals. */
export function unionSeconds(intervals: ReadonlyArray<{ start: number; end: number }>): number {
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  let total = 0;
  let [from, to] = [-Infinity, -Infinity];
  for (const { start, end } of sorted) {
    if (start > to) {
      if (to > from) total += to - from;
      [from, to] = [start, end];
    } else to = Math.max(to, end);
  }
  if (to > from) total += to - from;
  return total / 1000;
}

/** The stages of an msm experiment, in the order the workflow reaches them. */
export const EXPERIMENT_STAGES = [
  'loading and checks',
  'corpus',
  'AFT data',
  'tokenize',
  'midtraining',
  'AFT cells',
  'sampling',
  'judging samples',
  'judge calibration',
  'report',
] as const;
export type ExperimentStage = (typeof EXPERIMENT_STAGES)[number];

/**
 * Which stage a span belongs to (null: a span inside another stage's, or bookkeeping). Workflow ids follow
 * src/workflows/experiment.ts: `<id>.midtrain`, `<id>.midtrain-placebo`, `<id>.aft-<run>`.
 */
export function stageOf(span: Span): ExperimentStage | null {
  if (span.kind === 'workflow') {
    if (span.type === 'corpusGeneration') return 'corpus';
    if (span.type === 'aftDataGeneration') return 'AFT data';
    if (span.type === 'trainingRun')
      return /\.midtrain(-placebo)?$/.test(span.workflowId) ? 'midtraining' : 'AFT cells';
    return null;
  }
  switch (span.type) {
    case 'loadExperiment':
    case 'checkContamination':
      return 'loading and checks';
    case 'tokenizeCorpus':
    case 'tokenizeAftData':
      return 'tokenize';
    case 'generateSamples':
    case 'runInspectEval':
      return 'sampling';
    case 'judgeSamples':
      return 'judging samples';
    case 'calibrateJudge':
    case 'calibrateInspectGrader':
      return 'judge calibration';
    case 'writeReport':
      return 'report';
    default:
      return null;
  }
}

export interface StageTime {
  stage: ExperimentStage;
  /** Wall-clock seconds the stage was under way (union of its spans). */
  seconds: number;
  /** Seconds from the experiment's start to the stage's first span. */
  startsAt: number;
  spans: number;
}

export interface StageTimes {
  totalSeconds: number;
  stages: StageTime[];
  /** Seconds of the total no stage covers: workflow tasks, waits between stages. */
  otherSeconds: number;
  /** Per activity type: how many ran, their union, the sum of their last attempts, and what came before those (slot waits, failed attempts). */
  activities: Array<{ type: string; count: number; wallSeconds: number; busySeconds: number; queuedSeconds: number }>;
}

/** Per-stage wall clock of the experiment whose workflow is `rootWorkflowId`, from its tree's spans. */
export function stageTimes(spans: readonly Span[], rootWorkflowId: string): StageTimes {
  const root = spans.find((s) => s.kind === 'workflow' && s.workflowId === rootWorkflowId);
  if (!root) throw new Error(`no workflow span for ${rootWorkflowId}`);
  const byStage = new Map<ExperimentStage, Span[]>();
  for (const s of spans) {
    const stage = stageOf(s);
    if (stage) byStage.set(stage, [...(byStage.get(stage) ?? []), s]);
  }
  const stages = EXPERIMENT_STAGES.filter((s) => byStage.has(s)).map((stage) => {
    const of = byStage.get(stage)!;
    return {
      stage,
      seconds: unionSeconds(of),
      startsAt: (Math.min(...of.map((s) => s.start)) - root.start) / 1000,
      spans: of.length,
    };
  });
  const totalSeconds = (root.end - root.start) / 1000;
  const covered = unionSeconds([...byStage.values()].flat());
  const byType = new Map<string, Span[]>();
  for (const s of spans.filter((x) => x.kind === 'activity')) byType.set(s.type, [...(byType.get(s.type) ?? []), s]);
  const activities = [...byType.entries()]
    .map(([type, of]) => ({
      type,
      count: of.length,
      wallSeconds: unionSeconds(of),
      busySeconds: of.reduce((n, s) => n + (s.end - (s.started ?? s.start)), 0) / 1000,
      queuedSeconds: of.reduce((n, s) => n + ((s.started ?? s.start) - s.start), 0) / 1000,
    }))
    .sort((a, b) => b.wallSeconds - a.wallSeconds);
  return { totalSeconds, stages, otherSeconds: Math.max(0, totalSeconds - covered), activities };
}
