/**
 * `npm run bench -- plan-vs-actual [--experiment experiments/demo.json] [--store DIR] [--id msm-demo]`:
 * what `msm plan` estimates for an experiment against what a finished run of it recorded in its store
 * (the report's results.json, the compute ledgers of its jobs, the corpus documents' usage, and the times
 * its documents and judgments were written). One row per figure both sides know; the goal is each within
 * 1.5×. Default: the demo (`npm run demo`) in this checkout's store.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadExperimentFile } from '../src/experiment/load-experiment-file';
import { costPlanFromDisk } from '../src/experiment/cost-inputs';
import { experimentBaseDir, planFromDisk } from '../src/plan/plan-inputs';
import { PROJECT_ROOT } from '../src/util/project-paths';
import type { StagePlan } from '../src/plan/cost';

const GOAL = 1.5;

interface Row {
  figure: string;
  planned: number;
  actual: number;
  unit: string;
  /** Why the row cannot be held to the goal, when it cannot. */
  caveat?: string;
}

const readJson = <T>(file: string) => JSON.parse(readFileSync(file, 'utf8')) as T;
const fileOf = (uri: string) => uri.replace(/^file:\/\//, '');

/** Seconds between the first and the last file written in a folder (a stage's span, from its outputs). */
function writeSpan(dir: string): number | undefined {
  if (!existsSync(dir)) return undefined;
  const times = readdirSync(dir).map((f) => statSync(path.join(dir, f)).mtimeMs);
  return times.length > 1 ? (Math.max(...times) - Math.min(...times)) / 1000 : undefined;
}

/** Hours a job's machine was held, from its compute ledger (provisioned to released). */
function ledgerHours(dir: string): number {
  const file = path.join(dir, 'compute', 'ledger.json');
  if (!existsSync(file)) return 0;
  const { machines } = readJson<{
    machines: Array<{ provisionedAt: string; releasedAt?: string; lastSeenAt: string }>;
  }>(file);
  return machines.reduce(
    (n, m) => n + (Date.parse(m.releasedAt ?? m.lastSeenAt) - Date.parse(m.provisionedAt)) / 3_600_000,
    0,
  );
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { experiment: { type: 'string' }, store: { type: 'string' }, id: { type: 'string' } },
  });
  const file = values.experiment ?? 'experiments/demo.json';
  const { experiment: x } = loadExperimentFile(file);
  const baseDir = experimentBaseDir(x, PROJECT_ROOT);
  const store = values.store ? path.resolve(values.store) : path.resolve(baseDir, x.store);
  const id = values.id ?? `msm-${x.name}`;
  const resultsFile = path.join(store, 'experiments', id, 'report', 'results.json');
  if (!existsSync(resultsFile))
    throw new Error(
      `${resultsFile}: no finished run of ${file} there; run it first (npm run demo), or give --store and --id`,
    );
  const results = readJson<{
    generatedAt: string;
    lineage: { corpus: { documents: number; tokens: number } };
    cells: Array<{
      training: { tokens: number };
      modelUri: string;
      eval: { n: number; samplesUri: string; judgmentsUri: string };
    }>;
    compute?: { runs: Array<{ run: string; usage: { machineHours: number } }> };
    calibration?: { kinds: Array<{ shows: number; clean: number; stoppedEarly?: { judged: number; of: number } }> };
  }>(resultsFile);

  const plan = costPlanFromDisk(x, baseDir, planFromDisk(x, baseDir));
  const stage = (s: StagePlan['stage']) => plan.stages.find((p) => p.stage === s);
  const rows: Row[] = [];
  const c = results.lineage.corpus;
  rows.push({ figure: 'corpus documents', planned: plan.counts.documents, actual: c.documents, unit: '' });
  rows.push({ figure: 'corpus tokens', planned: plan.counts.corpusTokens, actual: c.tokens, unit: '' });
  // The documents' recorded usage and the span over which they were written.
  const corpusDir = path.join(store, 'corpus');
  const docsDirs = existsSync(corpusDir)
    ? readdirSync(corpusDir)
        .map((d) => path.join(corpusDir, d, 'docs'))
        .filter(existsSync)
    : [];
  const docs = docsDirs.flatMap((d) =>
    readdirSync(d).map((f) => readJson<{ usage?: { outputTokens?: number } }>(path.join(d, f))),
  );
  if (docs.length) {
    const planDocsOut = x.generation.maxDocTokens * plan.assumptions.documentOutputShareOfMax * plan.counts.documents;
    rows.push({
      figure: 'corpus document output tokens',
      planned: planDocsOut,
      actual: docs.reduce((n, d) => n + (d.usage?.outputTokens ?? 0), 0),
      unit: '',
    });
  }
  // The document calls alone, as the plan times them (its corpus row adds the planning calls before them).
  const span = docsDirs.map(writeSpan).reduce((n: number, s) => n + (s ?? 0), 0);
  const a = plan.assumptions;
  const streams = x.generation.provider.kind === 'local' ? 1 : Math.min(x.generation.concurrency, 8);
  const perDoc =
    a.callFixedSeconds + (a.documentOutputShareOfMax * x.generation.maxDocTokens) / a.outputTokensPerSecond;
  if (span > 0)
    rows.push({
      figure: 'corpus documents wall',
      planned: (plan.counts.documents * perDoc) / streams,
      actual: span,
      unit: 's',
      caveat: 'the span runs from the first document written to the last: one document short',
    });
  const runHours = (name: (r: string) => boolean) =>
    (results.compute?.runs ?? []).filter((r) => name(r.run)).reduce((n, r) => n + r.usage.machineHours, 0);
  const mid = stage('midtraining');
  if (mid)
    rows.push({
      figure: 'midtraining job',
      planned: mid.wallHours * 3600,
      actual: runHours((r) => r === 'midtrain') * 3600,
      unit: 's',
    });
  const aft = stage('aft training');
  if (aft) {
    rows.push({
      figure: 'AFT training jobs',
      planned: aft.gpuHours! * 3600,
      actual: runHours((r) => r !== 'midtrain' && !r.startsWith('capabilities-')) * 3600,
      unit: 's',
    });
    rows.push({
      figure: 'AFT training tokens',
      planned: aft.tokens!,
      actual: results.cells.reduce((n, cell) => n + cell.training.tokens, 0),
      unit: '',
      caveat: 'actual: the cells’ data tokens; planned: tokens processed (trimmed micro-batches)',
    });
  }
  const sampling = stage('eval sampling');
  const evalDirs = results.cells.map((cell) => path.dirname(path.dirname(fileOf(cell.eval.samplesUri))));
  if (sampling)
    rows.push({
      figure: 'eval sampling jobs',
      planned: sampling.gpuHours! * 3600,
      actual: evalDirs.reduce((n, d) => n + ledgerHours(d), 0) * 3600,
      unit: 's',
    });
  rows.push({
    figure: 'judged samples',
    planned: plan.counts.judgedSamples,
    actual: results.cells.reduce((n, cell) => n + cell.eval.n, 0),
    unit: '',
  });
  const judgeSpan = results.cells.reduce((n, cell) => n + (writeSpan(fileOf(cell.eval.judgmentsUri)) ?? 0), 0);
  if (judgeSpan > 0)
    rows.push({
      figure: 'judging wall (per cell, summed)',
      planned: (stage('judging')?.wallHours ?? 0) * 3600,
      actual: judgeSpan,
      unit: 's',
    });
  const calibrated = (results.calibration?.kinds ?? []).reduce(
    (n, k) => n + (k.stoppedEarly ? k.stoppedEarly.judged : k.shows + k.clean),
    0,
  );
  const stopped = (results.calibration?.kinds ?? []).some((k) => k.stoppedEarly);
  rows.push({
    figure: 'calibration items judged',
    planned: stage('judge calibration')?.calls ?? 0,
    actual: calibrated,
    unit: '',
    ...(stopped ? { caveat: 'the judge stopped early (it could no longer pass): the plan is the upper bound' } : {}),
  });

  const ratio = (r: Row) => (r.actual > 0 ? r.planned / r.actual : Infinity);
  const within = (r: Row) => ratio(r) <= GOAL && ratio(r) >= 1 / GOAL;
  console.log(`${file} planned vs its run ${id} (${resultsFile}, report of ${results.generatedAt})`);
  const fmt = (n: number, unit: string) =>
    `${unit === 's' ? n.toFixed(0) : Math.round(n).toLocaleString('en-US')}${unit}`;
  for (const r of rows)
    console.log(
      `  ${r.figure.padEnd(34)} planned ${fmt(r.planned, r.unit).padStart(9)}  actual ${fmt(r.actual, r.unit).padStart(9)}  ` +
        `ratio ${ratio(r).toFixed(2).padStart(6)}  ${within(r) ? 'within 1.5×' : 'OUTSIDE 1.5×'}${r.caveat ? `  (${r.caveat})` : ''}`,
    );
  const held = rows.filter((r) => !r.caveat);
  console.log(
    JSON.stringify({
      bench: 'plan-vs-actual',
      experiment: file,
      run: id,
      rows: rows.map((r) => ({
        figure: r.figure,
        planned: Math.round(r.planned),
        actual: Math.round(r.actual),
        ratio: Number(ratio(r).toFixed(2)),
      })),
      withinGoal: held.filter(within).length,
      held: held.length,
    }),
  );
}
