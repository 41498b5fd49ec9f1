import { readFileSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import { HumanLabelsError, parseLabelsCsv } from '../eval/human-labels';
import { contentId } from '../util/hash';
import type { ExperimentOutcome } from '../workflows/experiment';
import { humanLabelsImport } from '../workflows/report';

/**
 * `msm calibrate import <labels.csv> --id <run>`: a person's labels of the run's own samples join its
 * judge's calibration, and the report is written again. The CSV is checked here (every bad row named)
 * before anything is sent; the workers check every sample against the run's stored judgments.
 */
export async function calibrateCommand(
  client: Client,
  action: string | undefined,
  file: string | undefined,
  runId: string | undefined,
): Promise<void> {
  if (action !== 'import' || !file || !runId)
    throw new Error('usage: msm calibrate import <labels.csv> --id <experiment workflow id> (rows: sample,label)');
  let labels;
  try {
    labels = parseLabelsCsv(readFileSync(file, 'utf8'), file);
  } catch (e) {
    if (e instanceof HumanLabelsError) throw new Error(`labels not imported:\n  - ${e.problems.join('\n  - ')}`);
    throw e;
  }
  // The run's store is where its report is: the finished experiment's result names it.
  const outcome = (await client.workflow.getHandle(runId).result()) as ExperimentOutcome;
  const suffix = `/experiments/${runId}/report/results.json`;
  if (!outcome.report.resultsUri.endsWith(suffix))
    throw new Error(`${runId}: its report is at ${outcome.report.resultsUri}, not where msm writes reports`);
  const storeUri = outcome.report.resultsUri.slice(0, -suffix.length);
  const result = await client.workflow.execute(humanLabelsImport, {
    taskQueue: 'msm',
    workflowId: `${runId}.labels-${contentId(labels)}`,
    args: [{ storeUri, workflowId: runId, labels }],
  });
  console.log(
    `${labels.length} labels imported (${result.labels} in all for ${runId}); report: ${result.htmlPath ?? result.htmlUri}`,
  );
  for (const line of result.headline ?? []) console.log(`  ${line}`);
}
