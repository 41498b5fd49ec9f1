import type { Results } from './results';
import { armsTable, valuesTable } from './arms-tables';
import { CAPABILITIES_TITLE, capabilityLines, capabilityTable } from './capabilities';
import { computeTable } from './compute';
import { judgeSpendTable } from './judge-spend';
import {
  armFractionTable,
  calibrationTable,
  analysisLine,
  cellTable,
  conditionTable,
  differenceTable,
  lineageRows,
  methodLines,
  notFindingsNote,
  type CellTable,
  type Table,
} from './tables';

export const esc = (s: unknown) =>
  String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Columns holding URIs get a monospace class so long paths stay readable. */
export function htmlTable(t: Table, uriColumns: number[] = []): string {
  const head = `<tr>${t.headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>`;
  const body = t.rows
    .map(
      (r) =>
        `<tr>${r.map((v, i) => `<td${uriColumns.includes(i) ? ' class="uri"' : ''}>${esc(v)}</td>`).join('')}</tr>`,
    )
    .join('\n');
  return `<div class="wide"><table>\n${head}\n${body}\n</table></div>`;
}

/** A URI a browser can open becomes a link; others (s3://) stay text. Either way it wraps anywhere. */
const uriHtml = (v: string) =>
  /^(file|https?):\/\//.test(v)
    ? `<a class="uri" href="${esc(v)}">${esc(v)}</a>`
    : `<span class="uri">${esc(v)}</span>`;

/** Cells: the short columns in the table, each cell's URIs folded into a details row beneath it. */
export function htmlCellTable(t: CellTable): string {
  const head = `<tr>${t.headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>`;
  const body = t.rows.map((r, i) => {
    const files = t.details[i].map(([k, v]) => `<dt>${esc(k)}</dt><dd>${uriHtml(v)}</dd>`).join('');
    return (
      `<tr>${r.map((v) => `<td>${esc(v)}</td>`).join('')}</tr>\n` +
      `<tr class="details"><td colspan="${t.headers.length}"><details><summary>where ${esc(r[0])} came from</summary><dl>${files}</dl></details></td></tr>`
    );
  });
  return `<div class="wide"><table class="cells">\n${head}\n${body.join('\n')}\n</table></div>`;
}

const note = (text: string | null) => (text ? `<p class="not-finding">${esc(text)}</p>` : '');

function calibrationHtml(results: Results): string {
  const c = results.calibration;
  if (!c.kinds.length) return `<p>${esc(results.headline.sentences[0])}</p>`;
  return `${htmlTable(calibrationTable(results))}\n<p>${c.kinds.map((k) => `${esc(k.kind)}: set sha256 <span class="uri">${esc(k.setSha256)}</span>, verdicts ${uriHtml(k.judgmentsUri)}`).join('<br>')}</p>`;
}

function conditionsHtml(results: Results, marked: string): string {
  const t = conditionTable(results);
  return t ? `<h2 id="conditions">Per condition</h2>\n${marked}\n${htmlTable(t)}` : '';
}

function capabilitiesHtml(results: Results): string {
  const c = results.capabilities;
  if (!c) return '';
  const logs = c.checks
    .flatMap((k) => k.arms.map((a) => `${esc(k.name)}, ${esc(a.arm)}: ${uriHtml(a.logUri)}`))
    .join('<br>');
  return `<h2 id="capabilities">${esc(CAPABILITIES_TITLE)}</h2>\n${htmlTable(capabilityTable(c))}\n<ul>${capabilityLines(
    c,
  )
    .map((l) => `<li>${esc(l)}</li>`)
    .join('')}</ul>\n<p>Inspect logs (inspect view):<br>${logs}</p>`;
}

function valuesHtml(results: Results, marked: string): string {
  const t = valuesTable(results);
  return t ? `<h2>Values revealed</h2>\n${marked}\n${htmlTable(t)}` : '';
}

/**
 * A self-contained page: the answer first, lineage, the plot, the tables and how they were computed.
 * lossSvg: the training loss curves (loss-plot.ts); absent for callers that have none to show.
 */
export function renderHtml(results: Results, svg: string, lossSvg?: string): string {
  const claims = results.headline.claims;
  const anyWithheld = Boolean(claims.rates.withheld || claims.primary?.withheld || claims.dataEfficiency.withheld);
  const notFindings = notFindingsNote(results);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>msm report — ${esc(results.experiment.name)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;padding:0 1rem;color:#111827;max-width:1200px}
.wide{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #d1d5db;padding:.3rem .6rem;text-align:left;font-size:.9rem;overflow-wrap:break-word}
th{background:#f3f4f6}.lineage th{white-space:nowrap}.lineage td{overflow-wrap:anywhere}.uri{font-family:monospace;font-size:.75rem;color:#4b5563;overflow-wrap:anywhere}
tr.details td{border-top:none;background:#fafafa;font-size:.8rem}tr.details dl{display:grid;grid-template-columns:max-content 1fr;gap:.1rem .8rem;margin:.3rem 0}tr.details dd{margin:0}
.answer{font-size:1.05rem;background:#eff6ff;padding:.8rem 1rem;border-left:4px solid #1d4ed8}.answer.withheld{background:#fef2f2;border-left-color:#b91c1c}
.not-finding{color:#b91c1c;font-weight:600}figure{margin:1rem 0;max-width:100%;overflow-x:auto}
</style></head>
<body>
<h1>MSM report: ${esc(results.experiment.name)}</h1>
<div class="answer${anyWithheld ? ' withheld' : ''}" id="headline">${results.headline.sentences.map((s) => `<p>${esc(s)}</p>`).join('')}</div>
<div class="wide"><table class="lineage">${lineageRows(results)
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`)
    .join('')}</table></div>
<h2 id="calibration">Judge calibration</h2>
${calibrationHtml(results)}
<h2>Data efficiency</h2>
<p class="answer${claims.dataEfficiency.withheld ? ' withheld' : ''}" id="data-efficiency">${esc(results.dataEfficiency.summary)}</p>
<h2>Misalignment rate vs AFT data fraction</h2>
${note(notFindings)}
<figure id="plot">${svg}</figure>
<h2>Arms</h2>
${htmlTable(armsTable(results))}
<h2>Per arm and fraction</h2>
${note(notFindings)}
${htmlTable(armFractionTable(results))}
${valuesHtml(results, note(notFindings))}
${conditionsHtml(results, note(notFindings))}
${capabilitiesHtml(results)}
<h2 id="contrasts">Contrasts: the primary outcome, then the secondary ones</h2>
<p>${esc(analysisLine(results))}</p>
${results.differences.length ? htmlTable(differenceTable(results)) : '<p>No fraction was run by an arm and the reference arm both.</p>'}
<h2>Cells</h2>
${note(notFindings)}
${htmlCellTable(cellTable(results))}
${lossSvg ? `<h2 id="training-loss">Training loss</h2>\n<figure id="loss-curves">${lossSvg}</figure>` : ''}
${results.judging ? `<h2 id="judge-spend">Judge spend</h2>\n${htmlTable(judgeSpendTable(results.judging))}\n<p>${results.judging.definitions.map(esc).join('. ')}.</p>` : ''}
${results.compute ? `<h2 id="compute">Compute: cost and preemptions</h2>\n${htmlTable(computeTable(results.compute))}\n<p>${results.compute.definitions.map(esc).join('. ')}.</p>` : ''}
<h2>Methods</h2>
<ul>
${methodLines(results)
  .map((l) => `<li>${esc(l)}</li>`)
  .join('\n')}
</ul>
</body></html>
`;
}
