import { describeTarget, type CorpusTargetStatus } from '../corpus/target';
import type { ExperimentProgress, SweepProgress } from '../workflows/definitions';

/** What `msm watch` shows at one moment: the workflow's progress plus what it cannot know itself. */
export interface WatchSnapshot {
  workflowId: string;
  status: string;
  /** Milliseconds since the workflow started. */
  elapsedMs: number;
  progress: ExperimentProgress | SweepProgress;
  /** Corpus child: paid usage against the budget, when generation runs or ran. */
  corpus?: {
    costUsd: number;
    budgetUsd: number | null;
    documentsGenerated: number;
    overBudget: boolean;
    awaitingApproval: boolean;
    /** generation.targetTokens set: where the corpus stands against it. */
    target?: CorpusTargetStatus;
  };
  /** Training runs in flight: their last heartbeat (step, total, loss). */
  training?: Array<{
    label: string;
    step?: number;
    totalSteps?: number;
    loss?: number;
    /** The activity's attempt (1 = first) and why the attempt before it failed. */
    attempt?: number;
    lastFailure?: string;
    /** Seconds the job's machine has not answered (within compute.lostGraceSec). */
    unreachableSec?: number;
  }>;
  /** Runs of this workflow whose cleanup could not release their machines (search attribute MsmReleaseFailed). */
  releaseFailed?: string[];
}

const isSweep = (p: ExperimentProgress | SweepProgress): p is SweepProgress => 'points' in p;

export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Time left if the remaining units go as fast as the finished ones did; unknown before the first. */
export function eta(elapsedMs: number, done: number, total: number): string {
  if (done === 0 || done >= total) return done >= total ? 'done' : 'ETA unknown until the first finishes';
  return `ETA ~${duration((elapsedMs / done) * (total - done))} (from ${done} finished)`;
}

const count = <T extends { status: string }>(xs: T[], s: string) => xs.filter((x) => x.status === s).length;
const money = (usd: number | null | undefined) => (usd == null ? '—' : `$${usd.toFixed(2)}`);

/** One training run: its progress, then (on a retry) the attempt and why the previous one failed. */
function trainingLines(t: NonNullable<WatchSnapshot['training']>[number]): string[] {
  const attempt = t.attempt && t.attempt > 1 ? `, attempt ${t.attempt}` : '';
  const silent = t.unreachableSec ? `, machine not answering for ${duration(t.unreachableSec * 1000)}` : '';
  const lines = [
    `training  ${t.label}: step ${t.step ?? '—'}/${t.totalSteps ?? '—'}, loss ${t.loss?.toFixed(3) ?? '—'}${attempt}${silent}`,
  ];
  if (t.lastFailure) lines.push(`          last failure: ${t.lastFailure.replace(/\s+/g, ' ').slice(0, 200)}`);
  return lines;
}

function experimentLines(p: ExperimentProgress, s: WatchSnapshot): string[] {
  const lines = [
    `stage     ${p.stage}${p.paused ? ' (paused)' : ''}${p.spec ? `   spec "${p.spec.title}" ${p.spec.hash.slice(0, 12)}` : ''}`,
  ];
  if (s.corpus) {
    const c = s.corpus;
    const flags = [
      c.overBudget ? 'paused: budget spent (msm budget)' : '',
      c.awaitingApproval ? 'waiting for approval (msm approve)' : '',
    ]
      .filter(Boolean)
      .join(', ');
    lines.push(
      `corpus    ${p.corpus ? `${p.corpus.documents} documents` : `${c.documentsGenerated} documents so far`}, cost ${money(c.costUsd)} of ${c.budgetUsd == null ? 'no budget' : money(c.budgetUsd)}${flags ? ` — ${flags}` : ''}`,
    );
  } else if (p.corpus) lines.push(`corpus    ${p.corpus.documents} documents`);
  const target = p.corpus?.target ?? s.corpus?.target;
  if (target) lines.push(`          ${describeTarget(target)}`);
  if (p.tokens) lines.push(`tokens    ${p.tokens.tokens.toLocaleString('en-US')} in ${p.tokens.sequences} sequences`);
  if (p.midtrain)
    lines.push(
      `midtrain  final loss ${p.midtrain.finalLoss?.toFixed(3) ?? '—'}${p.midtrain.resumedFromStep != null ? ` (resumed from step ${p.midtrain.resumedFromStep})` : ''}`,
    );
  for (const m of p.midtrains ?? [])
    lines.push(
      `midtrain  seed ${m.seed}${m.placebo ? ' (placebo)' : ''} on corpus draw ${m.corpusDraw}: final loss ${m.finalLoss?.toFixed(3) ?? '—'}`,
    );
  for (const t of s.training ?? []) lines.push(...trainingLines(t));
  if (p.cells.length) {
    const done = count(p.cells, 'done');
    lines.push(
      `cells     ${done}/${p.cells.length} done, ${count(p.cells, 'training')} training, ${count(p.cells, 'evaluating')} evaluating, ${count(p.cells, 'pending')} pending — ${eta(s.elapsedMs, done, p.cells.length)}`,
    );
    for (const c of p.cells)
      lines.push(
        `  ${c.id.padEnd(26)} ${c.status.padEnd(10)} ${c.rate !== undefined ? `rate ${(100 * c.rate).toFixed(1)}%` : ''}`.trimEnd(),
      );
  }
  if (p.compute || p.computeBudgetUsd != null) {
    const budget = p.computeBudgetUsd != null ? ` of ${money(p.computeBudgetUsd)}` : '';
    const paused = p.computeOverBudget ? ' — paused: compute budget spent (msm budget <id> <usd> --compute)' : '';
    lines.push(
      `compute   ${(p.compute?.gpuHours ?? 0).toFixed(2)} GPU-h, ${money(p.compute?.costUsd)}${budget}, ${p.compute?.preemptions ?? 0} preemptions${paused}`,
    );
  }
  if (p.judge) {
    const budget = p.judge.budgetUsd != null ? ` of ${money(p.judge.budgetUsd)} (eval.budgetUsd)` : '';
    lines.push(`judge     ${p.judge.calls} calls, ${money(p.judge.costUsd)}${budget}`);
  }
  if (p.report) lines.push(`report    ${p.report.htmlPath ?? p.report.htmlUri}`);
  return lines;
}

function sweepLines(p: SweepProgress, s: WatchSnapshot): string[] {
  const done = count(p.points, 'done') + count(p.points, 'failed');
  const lines = [
    `points    ${count(p.points, 'done')} done, ${count(p.points, 'running')} running, ${count(p.points, 'failed')} failed, ${count(p.points, 'pending')} pending of ${p.points.length} (at most ${p.concurrency} at once${p.paused ? ', paused' : ''}) — ${eta(s.elapsedMs, done, p.points.length)}`,
  ];
  for (const x of p.points)
    lines.push(
      `  ${x.id.padEnd(26)} ${x.status.padEnd(8)} ${x.status === 'failed' ? (x.error ?? '').slice(0, 100) : x.workflowId}`.trimEnd(),
    );
  if (p.comparison) lines.push(`comparison ${p.comparison.htmlUri}`);
  return lines;
}

/** The whole screen for one snapshot (plain text; the CLI clears the terminal between frames). */
export function renderWatch(s: WatchSnapshot): string {
  const head = `${s.workflowId} — ${s.status.toLowerCase()}, ${duration(s.elapsedMs)}`;
  const body = isSweep(s.progress) ? sweepLines(s.progress, s) : experimentLines(s.progress, s);
  return [head, '', ...body, ...releaseLines(s.releaseFailed ?? []), ''].join('\n');
}

/** A machine that may still bill is never left unsaid. */
function releaseLines(runs: string[]): string[] {
  if (!runs.length) return [];
  return [
    `RELEASE FAILED: ${runs.length} run(s) could not release their machines; they may still be running and billing.`,
    ...runs.map((r) => `  ${r}`),
    '  The reaper (msm reaper) retries; or release them in the provider console. See each run in the Web UI.',
  ];
}
