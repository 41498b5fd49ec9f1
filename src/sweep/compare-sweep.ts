import { buildComparison, ComparisonError, comparisonTable, type Comparison } from '../report/compare';
import { esc, htmlTable } from '../report/html';
import { markdownTable } from '../report/markdown';
import type { Results } from '../report/results';
import type { Table } from '../report/tables';
import type { ArtifactStore } from '../store/artifact-store';
import type { PointOutcome } from './sweep-schema';

/** Where a sweep's comparison went, and what it could compare. */
export interface SweepComparison {
  jsonUri: string;
  markdownUri: string;
  htmlUri: string;
  /** Points whose results entered the comparison. */
  compared: number;
  /** Why no cross-experiment comparison was made (fewer than two finished points, different metrics). */
  note?: string;
}

export interface SweepCompareRequest {
  workflowId: string;
  name: string;
  points: PointOutcome[];
}

const valuesText = (v: Record<string, unknown>) =>
  Object.entries(v)
    .map(([k, x]) => `${k}=${typeof x === 'string' ? x : JSON.stringify(x)}`)
    .join(', ');

/** One row per point: its values, its status and, when it finished, its full-data rates and report. */
export function pointsTable(points: PointOutcome[], comparison: Comparison | null): Table {
  const rate = (r: { rate: number } | null | undefined) => (r ? `${(r.rate * 100).toFixed(1)}%` : '—');
  return {
    headers: ['point', 'values', 'status', 'baseline, full data', 'msm, full data', 'report or error'],
    rows: points.map((p) => {
      const e = comparison?.experiments.find((x) => x.workflowId === p.workflowId);
      return [
        p.id,
        valuesText(p.values),
        p.status,
        rate(e?.fullData.baseline),
        rate(e?.fullData.msm),
        p.status === 'done' ? (p.htmlUri ?? '') : (p.error ?? ''),
      ];
    }),
  };
}

/** The store root of a results.json URI (<root>/experiments/<id>/report/results.json). */
export function storeRootOf(resultsUri: string): string {
  const i = resultsUri.lastIndexOf('/experiments/');
  if (i < 0) throw new Error(`not a report URI: ${resultsUri}`);
  return resultsUri.slice(0, i);
}

/**
 * Compare the finished points (msm compare) and table every point, under sweeps/<id>/ of `store`.
 * `read` gives a point's results.json (points may live in different stores).
 */
export async function writeSweepComparison(
  store: ArtifactStore,
  req: SweepCompareRequest,
  read: (resultsUri: string) => Promise<Results>,
): Promise<SweepComparison> {
  const done = req.points.filter((p) => p.status === 'done' && p.resultsUri);
  const results: Results[] = [];
  for (const p of done) results.push(await read(p.resultsUri!));
  let comparison: Comparison | null = null;
  let note: string | undefined;
  try {
    comparison = buildComparison(results);
  } catch (e) {
    if (!(e instanceof ComparisonError)) throw e;
    note = e.message;
  }
  const points = pointsTable(req.points, comparison);
  const title = `Sweep ${req.name} (${req.workflowId})`;
  const failed = req.points.filter((p) => p.status === 'failed').map((p) => p.id);
  const retry = failed.length
    ? `Failed points can be run alone: ${failed.map((id) => `\`msm sweep retry ${req.workflowId} ${id}\``).join(', ')}.`
    : '';
  const md = [
    `# ${title}`,
    '',
    markdownTable(points),
    '',
    retry,
    '',
    comparison ? markdownTable(comparisonTable(comparison)) : `No comparison: ${note}`,
    '',
  ].join('\n');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#111827;max-width:75rem}table{border-collapse:collapse}td,th{border:1px solid #d1d5db;padding:.3rem .6rem;text-align:left;font-size:.9rem;overflow-wrap:anywhere}th{background:#f3f4f6}</style>
</head><body>
<h1>${esc(title)}</h1>
<h2>Points</h2>
${htmlTable(points)}
${retry ? `<p>${esc(retry)}</p>` : ''}
<h2>Comparison</h2>
${comparison ? htmlTable(comparisonTable(comparison)) : `<p>No comparison: ${esc(note ?? '')}</p>`}
</body></html>
`;
  const prefix = `sweeps/${req.workflowId}`;
  const json = await store.put(
    `${prefix}/comparison.json`,
    JSON.stringify(
      {
        format: 'msm-sweep-v1',
        name: req.name,
        workflowId: req.workflowId,
        points: req.points,
        comparison,
        note: note ?? null,
      },
      null,
      2,
    ) + '\n',
  );
  const mdPut = await store.put(`${prefix}/comparison.md`, md);
  const htmlPut = await store.put(`${prefix}/comparison.html`, html);
  return {
    jsonUri: json.uri,
    markdownUri: mdPut.uri,
    htmlUri: htmlPut.uri,
    compared: comparison ? results.length : 0,
    ...(note ? { note } : {}),
  };
}
