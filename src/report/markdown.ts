import type { Results } from './results';
import { armsTable, valuesTable } from './arms-tables';
import { computeTable } from './compute';
import { armFractionTable, differenceTable, lineageRows, type Table } from './tables';

// A '|' inside a cell would end it; newlines would end the row.
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

export function markdownTable(t: Table): string {
  return [`| ${t.headers.map(cell).join(' | ')} |`, `| ${t.headers.map(() => '---').join(' | ')} |`, ...t.rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

/** A values eval: the share revealing each value, per arm (and control). */
function valuesSection(results: Results): string[] {
  const t = valuesTable(results);
  return t ? ['## Values revealed', '', markdownTable(t), ''] : [];
}

/** report.md: the answer, the tables and the lineage, for a pull request or a lab notebook. */
export function renderMarkdown(results: Results): string {
  const b = results.methods.bootstrap;
  return [
    `# MSM report: ${results.experiment.name}`,
    '',
    `**Data efficiency.** ${results.dataEfficiency.summary}`,
    '',
    `Metric: ${results.metric}.`,
    '',
    '## Arms',
    '',
    markdownTable(armsTable(results)),
    '',
    '## Per arm and fraction',
    '',
    markdownTable(armFractionTable(results)),
    '',
    ...valuesSection(results),
    '## MSM − baseline',
    '',
    results.differences.length ? markdownTable(differenceTable(results)) : 'No fraction was run in both arms.',
    '',
    ...(results.compute ? ['## Compute', '', markdownTable(computeTable(results.compute)), '', ...results.compute.definitions.map((d) => `- ${d}`), ''] : []),
    '## Lineage',
    '',
    ...lineageRows(results).map(([k, v]) => `- ${k}: ${v}`),
    '',
    `Every cell's model, samples and judge are in results.json (\`cells\`); each derived number lists its \`cellIds\`.`,
    '',
    '## Methods',
    '',
    `- Point intervals: ${results.methods.pointInterval}.`,
    `- Bootstrap: ${b.method}; ${b.resamples} resamples, seed ${b.seed}, level ${b.level}.`,
    `- Data efficiency: ${results.methods.dataEfficiency}.`,
    `- Conditions: ${results.methods.conditions}.`,
    `- Secondary counts: ${results.methods.secondary}.`,
    '',
  ].join('\n');
}
