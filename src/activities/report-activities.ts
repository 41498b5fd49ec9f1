import { fileURLToPath } from 'node:url';
import { Context, log } from '@temporalio/activity';
import { renderHtml } from '../report/html';
import { lossRuns, readLossCurves, type LossCurve } from '../report/loss-curves';
import { lossCurveSummary, renderLossCurvesSvg } from '../report/loss-plot';
import { renderMarkdown } from '../report/markdown';
import { svgToPng } from '../report/png';
import { reportInputOf } from '../report/report-input';
import { buildResults, cellId, type Results } from '../report/results';
import { renderSvgPlot } from '../report/svg-plot';
import type { ArtifactStore } from '../store/artifact-store';
import { writeJson } from '../store/json';
import { openStore } from '../store/open-store';
import { judgedSplit, keyOfUri, type JudgedSplit } from '../eval/judgments';
import type { CellResult, ReportRequest, ReportResult } from './types';

/**
 * The split of a cell by condition (for macro-averages), with its executed and unparseable counts. Only
 * used when it adds up to the cell's own k/n (the number the workflow recorded); otherwise the report
 * keeps the totals and says nothing per condition.
 */
async function splitOf(
  store: ArtifactStore,
  c: Pick<CellResult, 'eval'>,
  id: string,
): Promise<JudgedSplit | undefined> {
  const key = keyOfUri(store, c.eval.judgmentsPrefix);
  if (key === null) {
    log.warn('report: judgments are not in this store; no per-condition split', {
      cell: id,
      judgments: c.eval.judgmentsPrefix,
    });
    return undefined;
  }
  const split = await judgedSplit(store, key, (read, of) => Context.current().heartbeat({ cell: id, read, of }));
  const k = split.conditions.reduce((s, x) => s + x.k, 0);
  const n = split.conditions.reduce((s, x) => s + x.n, 0);
  if (k !== c.eval.k || n !== c.eval.n) {
    log.warn('report: stored judgments do not match the cell; no per-condition split', {
      cell: id,
      stored: `${k}/${n}`,
      cell_kn: `${c.eval.k}/${c.eval.n}`,
    });
    return undefined;
  }
  return split;
}

/** Each training output's loss_curve.json (missing in old outputs: the figure says so). */
async function lossCurvesOf(store: ArtifactStore, req: ReportRequest) {
  const runs = lossRuns(
    req.midtrain?.outputUri ?? null,
    req.cells.map((c) => ({ ...c, outputUri: c.train.outputUri })),
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

export function createReportActivities() {
  return {
    /** results.json (every number with its lineage), the plot as SVG, an HTML page and a Markdown summary. */
    async writeReport(req: ReportRequest): Promise<ReportResult> {
      const store = openStore(req.storeUri);
      const splits = [];
      for (const c of req.cells) splits.push(await splitOf(store, c, cellId(c.arm, c.fraction, c.seed)));
      const controlSplits = [];
      for (const c of req.controls ?? []) controlSplits.push(await splitOf(store, c, `${c.arm}-s${c.seed}`));
      Context.current().heartbeat({ stage: 'statistics' });
      const results = buildResults(reportInputOf(req, splits, controlSplits));
      const curves = await lossCurvesOf(store, req);
      return writeReportFiles(store, `experiments/${req.workflowId}/report`, results, curves);
    },
  };
}
