import { fileURLToPath } from 'node:url';
import { Context, log } from '@temporalio/activity';
import { renderHtml } from '../report/html';
import { lossRuns, readLossCurves, type LossCurve } from '../report/loss-curves';
import { lossCurveSummary, renderLossCurvesSvg } from '../report/loss-plot';
import { renderMarkdown } from '../report/markdown';
import { svgToPng } from '../report/png';
import { reportInputOf } from '../report/report-input';
import { midtrainLabel } from '../config/midtrain';
import { controlId } from '../report/arms';
import { buildResults, cellId, type Results } from '../report/results';
import { renderSvgPlot } from '../report/svg-plot';
import type { ArtifactStore } from '../store/artifact-store';
import { readJson, writeJson } from '../store/json';
import { openStore } from '../store/open-store';
import { judgedSplit, keyOfUri, type JudgedSplit } from '../eval/judgments';
import { parseEvalSet, type EvalLine } from '../eval/eval-set';
import { inspectGraderKind } from '../eval/inspect/conditions';
import { judgeKindOf } from '../eval/judge-calibration';
import { PARSED_KIND } from '../eval/judge-error';
import { tallyByKind, withHumanLabels, type HumanLabel, type HumanLabelsImport } from '../eval/human-labels';
import { humanLabelsKey, judgeLabelled, readHumanLabels, saveHumanLabels } from '../eval/human-labels-store';
import { badInput } from '../temporal/failures';
import { providerId } from '../llm/call';
import type { CellResult, ReportRequest, ReportResult } from './types';

/**
 * The split of a cell by prompt (the bootstrap's clusters), with its unjudged, executed and unparseable
 * counts. Only used when it adds up to the cell's own k/n (the number the workflow recorded); otherwise the
 * report keeps the totals and says nothing per prompt.
 */
async function splitOf(
  store: ArtifactStore,
  c: Pick<CellResult, 'eval'>,
  id: string,
  kindOf: (promptId: string) => string | undefined,
): Promise<JudgedSplit | undefined> {
  const key = keyOfUri(store, c.eval.judgmentsPrefix);
  if (key === null) {
    log.warn('report: judgments are not in this store; no per-prompt split', {
      cell: id,
      judgments: c.eval.judgmentsPrefix,
    });
    return undefined;
  }
  const heartbeat = (read: number, of: number) => Context.current().heartbeat({ cell: id, read, of });
  const split = await judgedSplit(store, key, heartbeat, kindOf);
  const k = split.prompts.reduce((s, x) => s + x.k, 0);
  const n = split.prompts.reduce((s, x) => s + x.n, 0);
  if (k !== c.eval.k || n !== c.eval.n) {
    log.warn('report: stored judgments do not match the cell; no per-prompt split', {
      cell: id,
      stored: `${k}/${n}`,
      cell_kn: `${c.eval.k}/${c.eval.n}`,
    });
    return undefined;
  }
  return split;
}

/** Which judge kind scores each prompt of the eval set (parsed choices: PARSED_KIND), for correcting judge error. */
async function judgeKinds(store: ArtifactStore, req: ReportRequest): Promise<(promptId: string) => string | undefined> {
  const key = req.loaded.evalSet.key;
  if (!(await store.exists(key))) {
    log.warn(
      'report: the eval set is not in the store; judge kinds unknown, rates corrected only for a one-kind judge',
      {
        evalSet: key,
      },
    );
    return () => undefined;
  }
  const lines = parseEvalSet((await store.get(key)).toString('utf8'), key);
  // An Inspect task's conditions are graded by its own classifier per scenario, not by msm's judge prompts.
  const kindOfLine = (l: EvalLine) =>
    req.evalSettings?.inspectTask ? inspectGraderKind(l.condition) : (judgeKindOf(l) ?? PARSED_KIND);
  const kinds = new Map(lines.map((l) => [l.id, kindOfLine(l)]));
  return (id) => kinds.get(id);
}

/** Each training output's loss_curve.json (missing in old outputs: the figure says so). */
async function lossCurvesOf(store: ArtifactStore, req: ReportRequest) {
  const runs = lossRuns(
    req.midtrain?.outputUri ?? null,
    req.cells.map((c) => ({ ...c, outputUri: c.train.outputUri })),
    (req.midtrains ?? []).flatMap((m) =>
      m.midtrain ? [{ label: midtrainLabel('msm', m.seed), outputUri: m.midtrain.outputUri }] : [],
    ),
  );
  const heartbeat = (read: number) => Context.current().heartbeat({ stage: 'loss curves', read });
  return readLossCurves(store, runs, (uri) => keyOfUri(store, uri), heartbeat);
}

/** Writes the report's files; each put is atomic, results.json first so pages never point at missing numbers. */
async function writeReportFiles(
  store: ArtifactStore,
  prefix: string,
  results: Results,
  curves: LossCurve[],
): Promise<ReportResult> {
  const svg = renderSvgPlot(results);
  const lossSvg = renderLossCurvesSvg(curves);
  const resultsPut = await writeJson(store, `${prefix}/results.json`, results);
  await store.put(`${prefix}/plot.svg`, svg);
  await store.put(`${prefix}/plot.png`, svgToPng(svg));
  await store.put(`${prefix}/loss-curves.svg`, lossSvg);
  await store.put(`${prefix}/loss-curves.png`, svgToPng(lossSvg));
  const markdown = await store.put(
    `${prefix}/report.md`,
    renderMarkdown(results, { image: 'loss-curves.png', lines: lossCurveSummary(curves) }),
  );
  const html = await store.put(`${prefix}/report.html`, renderHtml(results, svg, lossSvg));
  return {
    resultsUri: resultsPut.uri,
    htmlUri: html.uri,
    htmlPath: html.uri.startsWith('file://') ? fileURLToPath(html.uri) : null,
    markdownUri: markdown.uri,
    headline: results.headline.sentences,
  };
}

const requestKey = (workflowId: string) => `experiments/${workflowId}/report/request.json`;

/** Each cell's and control's judgments prefix in this store, by the id a sample id names. */
function judgmentPrefixes(store: ArtifactStore, req: ReportRequest): Map<string, string> {
  const prefixes = new Map<string, string>();
  for (const c of [
    ...req.cells.map((x) => ({ id: cellId(x.arm, x.fraction, x.seed, x.midtrainSeed), eval: x.eval })),
    ...(req.controls ?? []).map((x) => ({ id: controlId(x), eval: x.eval })),
  ]) {
    const key = keyOfUri(store, c.eval.judgmentsPrefix);
    if (key) prefixes.set(c.id, key);
  }
  return prefixes;
}

/**
 * The run's judge calibration with any labels a person imported for it (msm calibrate import). An Inspect
 * task's grader has no frozen sets: its calibration is the labels alone, one kind per scenario.
 */
async function calibrationWithLabels(
  store: ArtifactStore,
  req: ReportRequest,
  kindOf: (promptId: string) => string | undefined,
  labels: HumanLabel[],
): Promise<{ calibration: ReportRequest['calibration']; problems: string[] }> {
  const inspect = Boolean(req.evalSettings?.inspectTask);
  if (!labels.length || (!req.calibration && !inspect)) return { calibration: req.calibration, problems: [] };
  const base = req.calibration ?? { judgeModel: providerId(req.judge!), kinds: [], parsedByCode: false };
  const calibrated = new Set<string>(base.kinds.map((k) => k.kind));
  const gradable = (kind: string) => calibrated.has(kind) || (inspect && kind.startsWith('inspect:'));
  const prefixes = judgmentPrefixes(store, req);
  const { verdicts, problems } = await judgeLabelled(
    store,
    labels,
    (cell) => prefixes.get(cell) ?? null,
    (p) => {
      const kind = kindOf(p);
      return kind && gradable(kind) ? kind : undefined;
    },
  );
  const file = store.uri(humanLabelsKey(req.workflowId));
  return { calibration: withHumanLabels(base, tallyByKind(verdicts), file, gradable), problems };
}

/** Everything a report needs beyond the request, read from the store, then the report's files. */
async function writeReportOf(store: ArtifactStore, req: ReportRequest): Promise<ReportResult> {
  await writeJson(store, requestKey(req.workflowId), req);
  const kindOf = await judgeKinds(store, req);
  const labels = await readHumanLabels(store, req.workflowId);
  const { calibration, problems } = await calibrationWithLabels(store, req, kindOf, labels);
  if (problems.length) log.warn('report: human labels that match no judged sample are left out', { problems });
  const splits = [];
  for (const c of req.cells)
    splits.push(await splitOf(store, c, cellId(c.arm, c.fraction, c.seed, c.midtrainSeed), kindOf));
  const controlSplits = [];
  for (const c of req.controls ?? []) controlSplits.push(await splitOf(store, c, controlId(c), kindOf));
  const curves = await lossCurvesOf(store, req);
  const learningRates = new Map(curves.flatMap((c) => (c.cell ? [[c.label, c.learningRates] as const] : [])));
  Context.current().heartbeat({ stage: 'statistics' });
  const results = buildResults(reportInputOf({ ...req, calibration }, splits, controlSplits, learningRates));
  return writeReportFiles(store, `experiments/${req.workflowId}/report`, results, curves);
}

export function createReportActivities() {
  return {
    /** results.json (every number with its lineage), the plot as SVG, an HTML page and a Markdown summary. */
    async writeReport(req: ReportRequest): Promise<ReportResult> {
      return writeReportOf(openStore(req.storeUri), req);
    },

    /**
     * Labels a person gave the run's samples join its judge's calibration, and the report is written again
     * with them. Every label must name a judged sample of the run; otherwise nothing is stored.
     */
    async importHumanLabels(req: HumanLabelsImport): Promise<ReportResult & { labels: number }> {
      const store = openStore(req.storeUri);
      if (!(await store.exists(requestKey(req.workflowId))))
        throw badInput(
          `${req.workflowId}: no stored report request in ${req.storeUri} (reports written before msm calibrate import keep none); run the experiment's report again, or check the run id and store`,
        );
      const report = await readJson<ReportRequest>(store, requestKey(req.workflowId));
      if (!report.calibration && !report.evalSettings?.inspectTask)
        throw badInput(`${req.workflowId}: its judge was not calibrated, so there is nothing to add labels to`);
      const { problems } = await calibrationWithLabels(store, report, await judgeKinds(store, report), req.labels);
      if (problems.length)
        throw badInput(`labels that match no judged sample of ${req.workflowId}:\n  - ${problems.join('\n  - ')}`);
      const all = await saveHumanLabels(store, req.workflowId, req.labels);
      return { ...(await writeReportOf(store, report)), labels: all.length };
    },
  };
}
