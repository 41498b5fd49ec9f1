import { describe, expect, it } from 'vitest';
import {
  spansOfHistory,
  spansOfTree,
  stageTimes,
  unionSeconds,
  type HistoryEventLike,
} from '../../src/experiment/stage-times';

/** A history written by hand: the workflow starts at `start` (event 1), then `events`, numbered in order. */
function history(
  type: string,
  start: number,
  events: Array<[number, Omit<HistoryEventLike, 'eventId' | 'eventTime'>]>,
) {
  const all: Array<[number, Omit<HistoryEventLike, 'eventId' | 'eventTime'>]> = [
    [start, { workflowExecutionStartedEventAttributes: { workflowType: { name: type } } }],
    ...events,
  ];
  // Seconds as the client decodes them (a Long-like object that prints its value), nanos for half seconds.
  return all.map(([t, e], i): HistoryEventLike => ({
    ...e,
    eventId: { toString: () => String(i + 1) },
    eventTime: { seconds: { toString: () => String(Math.floor(t)) }, nanos: (t % 1) * 1e9 },
  }));
}
const activity = (t0: number, started: number, end: number, name: string, firstId: number) =>
  [
    [t0, { activityTaskScheduledEventAttributes: { activityType: { name } } }],
    [started, { activityTaskStartedEventAttributes: { scheduledEventId: firstId } }],
    [end, { activityTaskCompletedEventAttributes: { scheduledEventId: String(firstId) } }],
  ] as Array<[number, Omit<HistoryEventLike, 'eventId' | 'eventTime'>]>;
const done = { workflowExecutionCompletedEventAttributes: {} };
const child = (t: number, workflowId: string): [number, Omit<HistoryEventLike, 'eventId' | 'eventTime'>] => [
  t,
  { childWorkflowExecutionStartedEventAttributes: { workflowExecution: { workflowId, runId: `run-${workflowId}` } } },
];

describe('stage times from workflow histories', () => {
  it('unions overlapping intervals and adds disjoint ones', () => {
    expect(unionSeconds([])).toBe(0);
    expect(
      unionSeconds([
        { start: 5_000, end: 8_000 },
        { start: 0, end: 2_000 },
        { start: 1_000, end: 3_000 },
        { start: 6_000, end: 7_000 },
      ]),
    ).toBe(6);
  });

  it("reads a history's activities with their wait for a slot, and the children it started", () => {
    // Event ids: 1 started, 2-4 the activity, 5 the child, 6 closed.
    const { spans, children } = spansOfHistory(
      'x',
      history('msmExperiment', 0, [...activity(1, 1.5, 4, 'loadExperiment', 2), child(4, 'x.corpus'), [10, done]]),
    );
    expect(spans).toEqual([
      { kind: 'workflow', type: 'msmExperiment', workflowId: 'x', start: 0, end: 10_000 },
      { kind: 'activity', type: 'loadExperiment', workflowId: 'x', start: 1_000, end: 4_000, started: 1_500 },
    ]);
    expect(children).toEqual([{ workflowId: 'x.corpus', runId: 'run-x.corpus' }]);
    // Still open (no close event): it runs until `now`, and an activity under way is not a span yet.
    const open = spansOfHistory(
      'x',
      history('msmExperiment', 0, [...activity(1, 1, 4, 'loadExperiment', 2).slice(0, 2)]),
      30_000,
    );
    expect(open.spans).toEqual([{ kind: 'workflow', type: 'msmExperiment', workflowId: 'x', start: 0, end: 30_000 }]);
    expect(() => spansOfHistory('y', [])).toThrow(/y: empty history/);
  });

  it('splits a run into its stages, recursing into children; overlapping cells count once per stage', async () => {
    const histories: Record<string, HistoryEventLike[]> = {
      x: history('msmExperiment', 0, [
        child(1, 'x.corpus'),
        ...activity(20, 20, 25, 'tokenizeCorpus', 3),
        child(25, 'x.midtrain'),
        child(60, 'x.aft-a'),
        child(60, 'x.aft-b'),
        child(80, 'x.eval-a'),
        child(90, 'x.eval-b'),
        child(120, 'x.report'),
        [150, done],
      ]),
      'x.corpus': history('corpusGeneration', 1, [...activity(1, 1, 19, 'generateDocuments', 2), [20, done]]),
      'x.midtrain': history('trainingRun', 25, [[60, done]]),
      'x.aft-a': history('trainingRun', 60, [[80, done]]),
      'x.aft-b': history('trainingRun', 60, [[90, done]]),
      'x.eval-a': history('evaluationRun', 80, [
        ...activity(80, 80, 100, 'generateSamples', 2),
        ...activity(100, 100, 105, 'judgeSamples', 5),
        [105, done],
      ]),
      'x.eval-b': history('evaluationRun', 90, [
        // Waits 10 s for the one sampling slot while cell a samples.
        ...activity(90, 100, 115, 'generateSamples', 2),
        ...activity(115, 115, 118, 'judgeSamples', 5),
        [118, done],
      ]),
      'x.report': history('reportRun', 120, [
        ...activity(120, 120, 140, 'calibrateJudge', 2),
        ...activity(140, 140, 148, 'writeReport', 5),
        [148, done],
      ]),
    };
    const asked: string[] = [];
    const spans = await spansOfTree('x', async (id, runId) => {
      asked.push(`${id}@${runId ?? 'latest'}`);
      return histories[id];
    });
    expect(asked[0]).toBe('x@latest');
    expect(asked).toContain('x.eval-b@run-x.eval-b');
    const t = stageTimes(spans, 'x');
    expect(t.totalSeconds).toBe(150);
    expect(t.stages.map((s) => [s.stage, s.seconds, s.startsAt, s.spans])).toEqual([
      ['corpus', 19, 1, 1],
      ['tokenize', 5, 20, 1],
      ['midtraining', 35, 25, 1],
      ['AFT cells', 30, 60, 2],
      ['sampling', 35, 80, 2],
      ['judging samples', 8, 100, 2],
      ['judge calibration', 20, 120, 1],
      ['report', 8, 140, 1],
    ]);
    // Not covered: 0-1 (start), 118-120 (between the last judging and the report), 148-150 (closing).
    expect(t.otherSeconds).toBe(5);
    expect(t.activities.find((a) => a.type === 'generateSamples')).toEqual({
      type: 'generateSamples',
      count: 2,
      wallSeconds: 35,
      busySeconds: 35,
      queuedSeconds: 10,
    });
    expect(() => stageTimes(spans, 'nope')).toThrow(/no workflow span for nope/);
  });
});
