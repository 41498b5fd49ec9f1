import type { Client } from '@temporalio/client';
import { loadSweepFile } from '../sweep/load-sweep-file';
import { freezeSweepInput } from './freeze-inputs';
import type { SweepOutcome } from '../workflows/sweep';
import { msmSweep } from '../workflows';

/** The sweep's workflow id: given, else derived from its name (a re-run of the same file re-attaches). */
export const sweepIdFor = (name: string, explicit?: string): string => explicit ?? `msm-sweep-${name}`;

function printOutcome(out: SweepOutcome): void {
  for (const p of out.points)
    console.log(`  ${p.id.padEnd(28)} ${p.status}${p.status === 'done' ? `  ${p.htmlUri}` : `  ${p.error}`}`);
  if (out.comparison)
    console.log(`comparison: ${out.comparison.htmlUri}${out.comparison.note ? ` (${out.comparison.note})` : ''}`);
}

/**
 * `msm sweep <file>`: check every point, freeze every point's input files, start (or re-attach to) the
 * sweep; --wait prints its outcome.
 */
export async function startSweep(c: Client, file: string, opts: { id?: string; wait?: boolean }): Promise<void> {
  const loaded = loadSweepFile(file);
  const points = loaded.points;
  const input = await freezeSweepInput(loaded.input);
  const workflowId = sweepIdFor(input.name, opts.id);
  console.log(`${file}: ${points.length} points (${points.map((p) => p.id).join(', ')})`);
  const h = await c.workflow.start(msmSweep, {
    taskQueue: 'msm',
    workflowId,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    staticSummary: `MSM sweep ${input.name}`,
  });
  console.log(h.workflowId);
  if (opts.wait) printOutcome(await h.result());
}

/**
 * `msm sweep retry <id> <point>`: run one failed point of a finished sweep again, alone: a new run of the
 * sweep under the same id that keeps every other point's outcome and rewrites the comparison. The point's
 * input files are frozen again, so a fixed file is used.
 */
export async function retrySweepPoint(
  c: Client,
  sweepId: string,
  point: string,
  opts: { wait?: boolean },
): Promise<void> {
  const h = c.workflow.getHandle<typeof msmSweep>(sweepId);
  const { status } = await h.describe();
  if (status.name === 'RUNNING')
    throw new Error(`sweep ${sweepId} is still running; retry a point once it has ended (msm progress ${sweepId})`);
  if (status.name !== 'COMPLETED')
    throw new Error(
      `sweep ${sweepId} ended ${status.name}, with no outcome to keep; start it again with msm sweep <file>`,
    );
  const last = await h.result();
  const p = last.points.find((x) => x.id === point);
  if (!p)
    throw new Error(`no point ${point} in sweep ${sweepId}; its points: ${last.points.map((x) => x.id).join(', ')}`);
  if (p.status === 'done') throw new Error(`point ${point} of sweep ${sweepId} already finished; nothing to retry`);
  // The point's files as they are now: a retry is how a fixed input file gets in.
  const input = await freezeSweepInput(
    {
      ...last.sweep,
      reuse: last.points.filter((x) => x.status === 'done'),
      only: [point],
    },
    [point],
  );
  const again = await c.workflow.start(msmSweep, {
    taskQueue: 'msm',
    workflowId: sweepId,
    args: [input],
    staticSummary: `MSM sweep ${last.sweep.name}: retry ${point}`,
  });
  console.log(`retrying ${point} of ${sweepId} (run ${again.firstExecutionRunId})`);
  if (opts.wait) printOutcome(await again.result());
}
