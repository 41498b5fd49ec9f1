import type { Results } from './results';
import { armsTable, valuesTable } from './arms-tables';
import { computeTable } from './compute';
import { armFractionTable, cellTable, differenceTable, lineageRows, type Table } from './tables';

export const esc = (s: unknown) =>
  String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Columns holding URIs get a monospace class so long paths stay readable. */
export function htmlTable(t: Table, uriColumns: number[] = []): string {
  const head = `<tr>${t.headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>`;
  const body = t.rows.map((r) => `<tr>${r.map((v, i) => `<td${uriColumns.includes(i) ? ' class="uri"' : ''}>${esc(v)}</td>`).join('')}</tr>`).join('\n');
  return `<table>\n${head}\n${body}\n</table>`;
}

function valuesHtml(results: Results): string {
  const t = valuesTable(results);
  return t ? `<h2>Values revealed</h2>\n${htmlTable(t)}` : '';
}

/** A self-contained page: lineage, the answer in words, the plot, the tables and how they were computed. */
export function renderHtml(results: Results, svg: string): string {
  const b = results.methods.bootstrap;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>msm report — ${esc(results.experiment.name)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#111827;max-width:1200px}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #d1d5db;padding:.3rem .6rem;text-align:left;font-size:.9rem}
th{background:#f3f4f6}.uri{font-family:monospace;font-size:.75rem;color:#4b5563}.answer{font-size:1.05rem;background:#eff6ff;padding:.8rem 1rem;border-left:4px solid #1d4ed8}
</style></head>
<body>
<h1>MSM report: ${esc(results.experiment.name)}</h1>
<table>${lineageRows(results).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>
<h2>Data efficiency</h2>
<p class="answer" id="data-efficiency">${esc(results.dataEfficiency.summary)}</p>
<h2>Misalignment rate vs AFT data fraction</h2>
<figure id="plot">${svg}</figure>
<h2>Arms</h2>
${htmlTable(armsTable(results))}
<h2>Per arm and fraction</h2>
${htmlTable(armFractionTable(results))}
${valuesHtml(results)}
<h2>MSM − baseline</h2>
${results.differences.length ? htmlTable(differenceTable(results)) : '<p>No fraction was run in both arms.</p>'}
<h2>Cells</h2>
${htmlTable(cellTable(results), [6, 7, 8])}
${results.compute ? `<h2 id="compute">Compute: cost and preemptions</h2>\n${htmlTable(computeTable(results.compute))}\n<p>${results.compute.definitions.map(esc).join('. ')}.</p>` : ''}
<h2>Methods</h2>
<ul>
<li>Point intervals: ${esc(results.methods.pointInterval)}.</li>
<li>Bootstrap: ${esc(b.method)}; ${b.resamples} resamples, seed ${b.seed}, level ${b.level}.</li>
<li>Data efficiency: ${esc(results.methods.dataEfficiency)}.</li>
<li>Conditions: ${esc(results.methods.conditions)}.</li>
<li>Secondary counts: ${esc(results.methods.secondary)}.</li>
<li>Lineage: ${results.lineage.trace.map(esc).join('; ')}.</li>
</ul>
</body></html>
`;
}
