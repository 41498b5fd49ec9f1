import { fileURLToPath } from 'node:url';
import { buildResults, type ReportInput } from '../report/results';
import { renderHtml } from '../report/html';
import { renderSvgPlot } from '../report/svg-plot';
import { writeJson } from '../store/json';
import { openStore } from '../store/open-store';
import type { ReportRequest, ReportResult } from './types';

export function createReportActivities() {
  return {
    /** results.json (every number with its lineage), the plot as SVG, and a self-contained HTML page. */
    async writeReport(req: ReportRequest): Promise<ReportResult> {
      const store = openStore(req.storeUri);
      const prefix = `experiments/${req.workflowId}/report`;
      const input: ReportInput = {
        experiment: {
          name: req.loaded.name,
          workflowId: req.workflowId,
          specTitle: req.loaded.spec.title,
          specHash: req.loaded.spec.hash,
          specVariant: req.loaded.spec.variant,
          baseModel: req.loaded.baseModel,
          corpus: { documents: req.corpus.documents, tokens: req.tokens.numTokens, hash: req.corpus.hash, truncated: req.corpus.truncated },
          midtrain: req.midtrain
            ? { finalLoss: req.midtrain.metrics.final_loss ?? NaN, steps: req.midtrain.metrics.steps ?? 0, checkpoint: req.midtrain.outputUri }
            : undefined,
        },
        cells: req.cells.map((c) => ({
          arm: c.arm,
          fraction: c.fraction,
          seed: c.seed,
          trainFinalLoss: c.train.metrics.final_loss ?? NaN,
          modelUri: c.train.outputUri,
          eval: { k: c.eval.k, n: c.eval.n, unjudged: c.eval.unjudged, samplesUri: c.eval.samplesUri, judgeModel: c.eval.judgeModel },
        })),
        generatedAt: new Date().toISOString(),
      };
      const results = buildResults(input);
      const svg = renderSvgPlot(results);
      const resultsPut = await writeJson(store, `${prefix}/results.json`, results);
      await store.put(`${prefix}/plot.svg`, svg);
      const html = await store.put(`${prefix}/report.html`, renderHtml(results, svg));
      return {
        resultsUri: resultsPut.uri,
        htmlUri: html.uri,
        htmlPath: html.uri.startsWith('file://') ? fileURLToPath(html.uri) : null,
      };
    },
  };
}
