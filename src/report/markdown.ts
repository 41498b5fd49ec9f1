import { identityPhrase } from '../config/model-identity';
import type { Results } from './results';
import { armsTable, valuesTable } from './arms-tables';
import { CAPABILITIES_TITLE, capabilityLines, capabilityTable } from './capabilities';
import { computeTable } from './compute';
import { judgeSpendTable } from './judge-spend';
import {
  armFractionTable,
  calibrationTable,
  analysisLine,
  conditionTable,
  differenceTable,
  lineageRows,
  methodLines,
  notFindingsNote,
  type Table,
} from './tables';

// A '|' inside a cell would end it; newlines would end the row.
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

export function markdownTable(t: Table): string {
  return [
    `| ${t.headers.map(cell).join(' | ')} |`,
    `| ${t.headers.map(() => '---').join(' | ')} |`,
    ...t.rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}

/** The rate per condition, arms at their largest fraction and controls. */
function conditionsSection(results: Results, marked: string[]): string[] {
  const t = conditionTable(results);
  return t ? ['## Per condition', '', ...marked, markdownTable(t), ''] : [];
}

/** A values eval: the share revealing each value, per arm (and control). */
function valuesSection(results: Results, marked: string[]): string[] {
  const t = valuesTable(results);
  return t ? ['## Values revealed', '', ...marked, markdownTable(t), ''] : [];
}

/**
 * report.md: the answer, the tables and the lineage, for a pull request or a lab notebook. loss: the
 * training loss figure's file (next to report.md) and one line per run (loss-plot.ts), when there is one.
 */
export function renderMarkdown(results: Results, loss?: { image: string; lines: string[] }): string {
  const notFindings = notFindingsNote(results);
  const marked = notFindings ? [`**${notFindings}**`, ''] : [];
  return [
    `# MSM report: ${results.experiment.name}`,
    '',
    // The answer: calibration, the msm − baseline difference, the data-efficiency factor (stated or withheld).
    ...results.headline.sentences.flatMap((s) => [`> ${s}`, '>']).slice(0, -1),
    '',
    `Metric: ${results.metric}.`,
    '',
    ...(results.lineage.identity
      ? [`Model: ${identityPhrase(results.lineage.identity)} (base model ${results.lineage.baseModel}).`, '']
      : []),
    '## Judge calibration',
    '',
    results.calibration.kinds.length ? markdownTable(calibrationTable(results)) : results.headline.sentences[0],
    '',
    '## Arms',
    '',
    markdownTable(armsTable(results)),
    '',
    '## Per arm and fraction',
    '',
    ...marked,
    markdownTable(armFractionTable(results)),
    '',
    ...valuesSection(results, marked),
    ...conditionsSection(results, marked),
    ...(results.capabilities
      ? [
          `## ${CAPABILITIES_TITLE}`,
          '',
          markdownTable(capabilityTable(results.capabilities)),
          '',
          ...capabilityLines(results.capabilities).map((l) => `- ${l}`),
          '',
        ]
      : []),
    '## Contrasts: the primary outcome, then the secondary ones',
    '',
    analysisLine(results),
    '',
    results.differences.length
      ? markdownTable(differenceTable(results))
      : 'No fraction was run by an arm and the reference arm both.',
    '',
    ...(loss ? ['## Training loss', '', `![Training loss per step](${loss.image})`, '', ...loss.lines, ''] : []),
    ...(results.compute
      ? [
          '## Compute',
          '',
          markdownTable(computeTable(results.compute)),
          '',
          ...results.compute.definitions.map((d) => `- ${d}`),
          '',
        ]
      : []),
    ...(results.judging
      ? [
          '## Judge spend',
          '',
          markdownTable(judgeSpendTable(results.judging)),
          '',
          ...results.judging.definitions.map((d) => `- ${d}`),
          '',
        ]
      : []),
    '## Lineage',
    '',
    ...lineageRows(results).map(([k, v]) => `- ${k}: ${v}`),
    '',
    `Every cell's model, samples and judge are in results.json (\`cells\`); each derived number lists its \`cellIds\`.`,
    '',
    '## Methods',
    '',
    ...methodLines(results).map((l) => `- ${l}`),
    '',
  ].join('\n');
}
