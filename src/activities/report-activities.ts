import { fileURLToPath } from 'node:url';
import { Context, log } from '@temporalio/activity';
import { renderHtml } from '../report/html';
import { lossRuns, readLossCurves } from '../report/loss-curves';
import { lossCurveSummary, renderLossCurvesSvg } from '../report/loss-plot';
import { renderMarkdown } from '../report/markdown';
import { svgToPng } from '../report/png';
import { buildResults, cellId, valuesMetric, type ReportInput } from '../report/results';
import { renderSvgPlot } from '../report/svg-plot';
import type { ArtifactStore } from '../store/artifact-store';
import { writeJson } from '../store/json';
import { openStore } from '../store/open-store';
import { judgedSplit, keyOfUri, type JudgedSplit } from '../eval/judgments';
import type { CellResult, ReportRequest, ReportResult } from './types';

const finite = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? v : null);

/**
 * The split of a cell by condition (for macro-averages), with its executed and unparseable counts. Only
 * used when it adds up to the cell's own k/n (the number the workflow recorded); otherwise the report
 * keeps the totals and says nothing per condition.
 */
async function splitOf(store: ArtifactStore, c: Pick<CellResult, 'eval'>, id: string): Promise<JudgedSplit | undefined> {
  const key = keyOfUri(store, c.eval.judgmentsPrefix);
  if (key === null) {
    log.warn('report: judgments are not in this store; no per-condition split', { cell: id, judgments: c.eval.judgmentsPrefix });
    return undefined;
  }
  const split = await judgedSplit(store, key, (read, of) => Context.current().heartbeat({ cell: id, read, of }));
  const k = split.conditions.reduce((s, x) => s + x.k, 0);
  const n = split.conditions.reduce((s, x) => s + x.n, 0);
  if (k !== c.eval.k || n !== c.eval.n) {
    log.warn('report: stored judgments do not match the cell; no per-condition split', { cell: id, stored: `${k}/${n}`, cell_kn: `${c.eval.k}/${c.eval.n}` });
    return undefined;
  }
  return split;
}

/** Datasets tokenized before per-document counts existed carry none. */
function tokenLengthsOf(st: NonNullable<ReportRequest['tokens']['documentStats']>) {
  const { min, median, p95, max } = st.summary;
  return { min, median, p95, max, histogramUri: st.histogramUri, documentTokensUri: st.documentTokensUri };
}

export function createReportActivities() {
  return {
    /** results.json (every number with its lineage), the plot as SVG, an HTML page and a Markdown summary. */
    async writeReport(req: ReportRequest): Promise<ReportResult> {
      const store = openStore(req.storeUri);
      const prefix = `experiments/${req.workflowId}/report`;
      const cells: ReportInput['cells'] = [];
      const targets = new Set<string>();
      for (const c of req.cells) {
        const split = await splitOf(store, c, cellId(c.arm, c.fraction, c.seed));
        split?.targets.forEach((t) => targets.add(t));
        cells.push({
          arm: c.arm,
          fraction: c.fraction,
          seed: c.seed,
          trainFinalLoss: finite(c.train.metrics.final_loss),
          modelUri: c.train.outputUri,
          eval: { k: c.eval.k, n: c.eval.n, samplesUri: c.eval.samplesUri, judgeModel: c.eval.judgeModel, judgmentsUri: c.eval.judgmentsPrefix },
          conditions: split?.conditions,
          executed: split?.executed ?? undefined,
          unparsed: split?.unparsed ?? undefined,
          values: split?.values ?? undefined,
        });
      }
      const controls: NonNullable<ReportInput['controls']> = [];
      for (const c of req.controls ?? []) {
        const split = await splitOf(store, c, `${c.arm}-s${c.seed}`);
        split?.targets.forEach((t) => targets.add(t));
        controls.push({
          arm: c.arm,
          seed: c.seed,
          modelUri: c.modelUri,
          eval: { k: c.eval.k, n: c.eval.n, samplesUri: c.eval.samplesUri, judgeModel: c.eval.judgeModel, judgmentsUri: c.eval.judgmentsPrefix },
          conditions: split?.conditions,
          executed: split?.executed ?? undefined,
          unparsed: split?.unparsed ?? undefined,
          values: split?.values ?? undefined,
        });
      }
      const input: ReportInput = {
        experiment: {
          name: req.loaded.name,
          workflowId: req.workflowId,
          specTitle: req.loaded.spec.title,
          specHash: req.loaded.spec.hash,
          specVariant: req.loaded.spec.variant,
          baseModel: req.loaded.baseModel,
          corpus: {
            documents: req.corpus.documents,
            tokens: req.tokens.numTokens,
            hash: req.corpus.hash,
            truncated: req.corpus.truncated,
            // Absent from manifests written before assembly dropped documents or metered cost.
            truncatedDropped: req.corpus.truncatedDropped ?? 0,
            duplicatesRemoved: req.corpus.duplicatesRemoved ?? 0,
            documentCostUsd: req.corpus.documentUsage?.costUsd ?? 0,
            ...(req.tokens.documentStats && { tokenLengths: tokenLengthsOf(req.tokens.documentStats) }),
          },
          midtrain: req.midtrain
            ? { finalLoss: finite(req.midtrain.metrics.final_loss), steps: req.midtrain.metrics.steps ?? 0, checkpoint: req.midtrain.outputUri }
            : undefined,
          evalSet: { sha256: req.loaded.evalSet.sha256, prompts: req.loaded.evalSet.prompts },
          ...(req.loaded.aftData ? { aftData: { sha256: req.loaded.aftData.sha256, examples: req.loaded.aftData.examples } } : {}),
          ...(req.loaded.aftSubsets && { aftSubsets: req.loaded.aftSubsets }),
        },
        cells,
        ...(req.arms ? { arms: req.arms } : {}),
        controls,
        // A values eval counts answers that reveal its target value, not violations: the metric says so.
        metric: targets.size ? valuesMetric([...targets].sort()) : undefined,
        generatedAt: new Date().toISOString(),
        // Absent when the report workflow predates calibration: then no claim is stated as a finding.
        calibration: req.calibration ?? null,
        minBalancedAccuracy: req.claims?.minBalancedAccuracy,
        aft: { examples: req.loaded.aftData?.examples ?? null, minExamples: req.claims?.minExamples },
        compute: [
          ...(req.midtrain?.compute ? [{ run: 'midtrain', usage: req.midtrain.compute }] : []),
          ...req.cells.flatMap((c) => (c.train.compute ? [{ run: cellId(c.arm, c.fraction, c.seed), usage: c.train.compute }] : [])),
        ],
      };
      Context.current().heartbeat({ stage: 'statistics' });
      const results = buildResults(input);
      const svg = renderSvgPlot(results);
      // Each training output's loss_curve.json (missing in old outputs: the figure says so).
      const runs = lossRuns(req.midtrain?.outputUri ?? null, req.cells.map((c) => ({ ...c, outputUri: c.train.outputUri })));
      const curves = await readLossCurves(store, runs, (uri) => keyOfUri(store, uri), (read) => Context.current().heartbeat({ stage: 'loss curves', read }));
      const lossSvg = renderLossCurvesSvg(curves);
      // Each put is atomic; results.json goes first so the pages never point at numbers that are not there.
      const resultsPut = await writeJson(store, `${prefix}/results.json`, results);
      await store.put(`${prefix}/plot.svg`, svg);
      await store.put(`${prefix}/plot.png`, svgToPng(svg));
      await store.put(`${prefix}/loss-curves.svg`, lossSvg);
      await store.put(`${prefix}/loss-curves.png`, svgToPng(lossSvg));
      const markdown = await store.put(`${prefix}/report.md`, renderMarkdown(results, { image: 'loss-curves.png', lines: lossCurveSummary(curves) }));
      const html = await store.put(`${prefix}/report.html`, renderHtml(results, svg, lossSvg));
      return {
        resultsUri: resultsPut.uri,
        htmlUri: html.uri,
        htmlPath: html.uri.startsWith('file://') ? fileURLToPath(html.uri) : null,
        markdownUri: markdown.uri,
        headline: results.headline.sentences,
      };
    },
  };
}
