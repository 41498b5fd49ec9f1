import type { Results } from './results';

const esc = (s: unknown) =>
  String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const pct = (r: number) => `${(100 * r).toFixed(1)}%`;

/** A self-contained page: lineage, the plot, and every cell with its interval. */
export function renderHtml(results: Results, svg: string): string {
  const e = results.experiment;
  const lineage: Array<[string, unknown]> = [
    ['experiment', `${e.name} (${e.workflowId})`],
    ['spec', `${e.specTitle} — variant ${e.specVariant}`],
    ['spec hash', e.specHash],
    ['base model', e.baseModel],
    ['corpus', `${e.corpus.documents} documents, ${e.corpus.tokens} tokens, ${e.corpus.truncated} truncated — hash ${e.corpus.hash}`],
    ['midtraining', e.midtrain ? `final loss ${e.midtrain.finalLoss.toFixed(4)} after ${e.midtrain.steps} steps — ${e.midtrain.checkpoint}` : 'none (no msm arm)'],
    ['metric', results.metric],
    ['generated', results.generatedAt],
  ];
  const rows = [...results.cells]
    .sort((a, b) => a.arm.localeCompare(b.arm) || b.fraction - a.fraction || a.seed - b.seed)
    .map(
      (c) =>
        `<tr><td>${esc(c.arm)}</td><td>${esc(c.fractionLabel)}</td><td>${c.seed}</td><td>${pct(c.misalignment.rate)}</td>` +
        `<td>${pct(c.misalignment.lo)} – ${pct(c.misalignment.hi)}</td><td>${c.misalignment.k}/${c.misalignment.n}</td>` +
        `<td>${c.eval.unjudged}</td><td>${Number.isFinite(c.trainFinalLoss) ? c.trainFinalLoss.toFixed(4) : '—'}</td><td class="uri">${esc(c.modelUri)}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>msm report — ${esc(e.name)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#111827;max-width:1100px}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #d1d5db;padding:.3rem .6rem;text-align:left;font-size:.9rem}
th{background:#f3f4f6}.uri{font-family:monospace;font-size:.75rem;color:#4b5563}
</style></head>
<body>
<h1>MSM report: ${esc(e.name)}</h1>
<table>${lineage.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>
<h2>Misalignment rate vs AFT data fraction</h2>
<figure id="plot">${svg}</figure>
<h2>Cells</h2>
<table><tr><th>arm</th><th>fraction</th><th>seed</th><th>rate</th><th>95% CI (Wilson)</th><th>k/n</th><th>unjudged</th><th>AFT loss</th><th>model</th></tr>
${rows}
</table>
</body></html>
`;
}
