import {
  ApplicationFailure,
  executeChild,
  patched,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { runBounded } from './bounded';
import { expandSweep, InvalidSweepError } from '../sweep/grid';
import type { PointOutcome, SweepInput } from '../sweep/sweep-schema';
import type { SweepComparison } from '../sweep/compare-sweep';
import { cpu } from './activity-proxies';
import { sweepProgressQuery, type SweepProgress } from './definitions';
import { handleRunControls } from './run-controls';
import { msmExperiment } from './experiment';
import { CANCEL_ON_PARENT_CLOSE } from './machine-cleanup';

export interface SweepOutcome {
  /** The sweep as run (base inlined), for `msm sweep retry`. */
  sweep: Omit<SweepInput, 'reuse' | 'only'>;
  points: PointOutcome[];
  comparison: SweepComparison | null;
}

/** Every message down a failure's cause chain (the child's own error is at the end). */
function failureText(e: unknown): string {
  const parts: string[] = [];
  for (let x: unknown = e; x instanceof Error && parts.length < 6; x = (x as { cause?: unknown }).cause)
    parts.push(x.message);
  return parts.filter(Boolean).join(': ');
}

/** The sweep's points; a sweep that cannot run as written is bad input. */
function checkedPoints(input: SweepInput) {
  try {
    return expandSweep(input);
  } catch (e) {
    if (e instanceof InvalidSweepError) throw ApplicationFailure.nonRetryable(e.message, 'BadInput');
    throw e;
  }
}

/**
 * A grid of experiments (a sweep file): one msmExperiment child per point, ids derived from the point so
 * a re-run re-attaches, at most `concurrency` at once (setConcurrency update; pause/resume signals). A
 * failed point is recorded and the others go on; `msm sweep retry` runs it alone later. The end is a
 * comparison of every finished point (msm compare, plus a table of all points).
 */
export async function msmSweep(started: SweepInput): Promise<SweepOutcome> {
  const wfId = workflowInfo().workflowId;
  let input = started;
  let points = checkedPoints(input);
  // Started with paths only (e.g. by temporal workflow start): the worker freezes every point's input
  // files once, now, so a point that starts days later still reads these bytes (new: patched).
  if (!input.base.frozenInputs && patched('frozen-inputs')) {
    input = { ...input, base: { ...input.base, frozenInputs: await cpu.freezeSweepInputs(input) } };
    points = checkedPoints(input);
  }
  const reused = new Map((input.reuse ?? []).filter((o) => o.status === 'done').map((o) => [o.id, o]));
  const progress: SweepProgress = {
    paused: false,
    concurrency: input.concurrency,
    points: points.map((p) => ({
      id: p.id,
      values: p.values,
      workflowId: `${wfId}.${p.id}`,
      status: reused.has(p.id) ? 'done' : 'pending',
    })),
  };
  setHandler(sweepProgressQuery, () => progress);
  handleRunControls(progress, (n) => (progress.concurrency = n));
  const details = () => {
    const by = (s: string) => progress.points.filter((p) => p.status === s).length;
    setCurrentDetails(
      `**sweep ${input.name}** — ${by('done')} done, ${by('running')} running, ${by('failed')} failed, ${by('pending')} pending of ${points.length}`,
    );
  };

  const outcomes = new Map<string, PointOutcome>(reused);
  const todo = points.filter((p) => !reused.has(p.id) && (!input.only || input.only.includes(p.id)));
  // A point's failure is its outcome, not the sweep's: the task never throws, so the others go on.
  await runBounded(
    todo.length,
    () => progress.concurrency,
    () => !progress.paused,
    async (i) => {
      const p = todo[i];
      const row = progress.points.find((r) => r.id === p.id)!;
      row.status = 'running';
      details();
      try {
        const out = await executeChild(msmExperiment, {
          ...CANCEL_ON_PARENT_CLOSE,
          workflowId: row.workflowId,
          args: [p.experiment],
          staticSummary: `sweep ${input.name}: ${p.id}`,
        });
        outcomes.set(p.id, {
          id: p.id,
          values: p.values,
          workflowId: row.workflowId,
          status: 'done',
          resultsUri: out.report.resultsUri,
          htmlUri: out.report.htmlUri,
        });
        row.status = 'done';
      } catch (e) {
        row.error = failureText(e);
        outcomes.set(p.id, {
          id: p.id,
          values: p.values,
          workflowId: row.workflowId,
          status: 'failed',
          error: row.error,
        });
        row.status = 'failed';
      }
      details();
    },
  );

  const ordered = points.map((p) => outcomes.get(p.id)).filter((o): o is PointOutcome => o !== undefined);
  const comparison = await cpu.compareSweep({ workflowId: wfId, name: input.name, points: ordered });
  progress.comparison = comparison;
  details();
  const { reuse: _r, only: _o, ...sweep } = input;
  return { sweep, points: ordered, comparison };
}
