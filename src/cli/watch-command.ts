import { defaultPayloadConverter } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { CorpusProgress, ExperimentProgress, SweepProgress } from '../workflows/definitions';
import { renderWatch, type WatchSnapshot } from '../watch/render';

/** The last heartbeat of a training child's running activity (step, total, loss), its attempt and last failure. */
async function trainingBeat(
  c: Client,
  workflowId: string,
  label: string,
): Promise<NonNullable<WatchSnapshot['training']>[number] | undefined> {
  try {
    const d = await c.workflow.getHandle(workflowId).describe();
    const pending = d.raw.pendingActivities?.[0];
    // Which attempt runs now and why the one before it failed (a preemption, a failing job, a lost worker).
    const retry = {
      ...(pending?.attempt ? { attempt: pending.attempt } : {}),
      ...(pending?.lastFailure?.message ? { lastFailure: pending.lastFailure.message } : {}),
    };
    const payload = pending?.heartbeatDetails?.payloads?.[0];
    if (!payload) return { label, ...retry };
    const beat = defaultPayloadConverter.fromPayload<{
      step?: number;
      totalSteps?: number;
      loss?: number;
      unreachableSec?: number;
    }>(payload);
    return {
      label,
      step: beat.step,
      totalSteps: beat.totalSteps,
      loss: beat.loss,
      ...retry,
      ...(beat.unreachableSec ? { unreachableSec: beat.unreachableSec } : {}),
    };
  } catch {
    return undefined; // not started yet, or already gone
  }
}

async function corpusOf(c: Client, id: string): Promise<WatchSnapshot['corpus']> {
  try {
    const p = await c.workflow.getHandle(`${id}.corpus`).query<CorpusProgress>('progress');
    return {
      costUsd: p.usage.costUsd,
      budgetUsd: p.budgetUsd,
      documentsGenerated: p.documentsGenerated,
      overBudget: p.overBudget,
      awaitingApproval: p.awaitingApproval,
      ...(p.target && { target: p.target }),
    };
  } catch {
    return undefined; // no corpus child (yet), or it has ended and its worker no longer answers queries
  }
}

/** Runs under this workflow (ids `<id>.…`) flagged MsmReleaseFailed: machines that may still bill. */
async function releaseFailures(c: Client, id: string): Promise<string[]> {
  const runs: string[] = [];
  try {
    for await (const w of c.workflow.list({ query: 'MsmReleaseFailed = true' }))
      if (w.workflowId === id || w.workflowId.startsWith(`${id}.`)) runs.push(w.workflowId);
  } catch {
    // a namespace set up before the attribute existed: msm setup registers it
  }
  return runs.sort();
}

/** Everything one frame of `msm watch` shows, from the workflow, its corpus child and its training runs. */
export async function snapshotOf(c: Client, id: string): Promise<WatchSnapshot> {
  const h = c.workflow.getHandle(id);
  const d = await h.describe();
  const progress = await h.query<ExperimentProgress | SweepProgress>('progress');
  const snap: WatchSnapshot = {
    workflowId: id,
    status: d.status.name,
    elapsedMs: (d.closeTime ?? new Date()).getTime() - d.startTime.getTime(),
    progress,
  };
  if ('cells' in progress) {
    if (progress.stage === 'corpus' || progress.corpus) snap.corpus = await corpusOf(c, id);
    const runs = progress.stage === 'midtrain' ? [{ wf: `${id}.midtrain`, label: 'midtrain' }] : [];
    for (const cell of progress.cells.filter((x) => x.status === 'training'))
      runs.push({ wf: `${id}.aft-${cell.id}`, label: cell.id });
    snap.training = (await Promise.all(runs.map((r) => trainingBeat(c, r.wf, r.label)))).filter((t) => t !== undefined);
  }
  const failed = await releaseFailures(c, id);
  if (failed.length) snap.releaseFailed = failed;
  return snap;
}

/** `msm watch <id>`: redraw every `everyMs` until the workflow ends; --once prints one frame (scripts, tests). */
export async function watch(c: Client, id: string, opts: { once?: boolean; everyMs?: number }): Promise<void> {
  for (;;) {
    const snap = await snapshotOf(c, id);
    const frame = renderWatch(snap);
    if (opts.once || !process.stdout.isTTY) {
      process.stdout.write(frame);
      if (opts.once || snap.status !== 'RUNNING') return;
    } else process.stdout.write(`\x1b[2J\x1b[H${frame}`);
    if (snap.status !== 'RUNNING') return;
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 2000));
  }
}
