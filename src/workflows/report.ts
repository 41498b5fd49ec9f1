import { upsertSearchAttributes } from '@temporalio/workflow';
import type { HumanLabelsImport } from '../eval/human-labels';
import type { ReportRequest, ReportResult } from '../report/types';
import { cpu, gpu, llm } from './activity-proxies';
import { MSM_STAGE } from '../temporal/search-attribute-keys';

/**
 * The report: the judge is first calibrated on frozen sets of known answers (LLM queue; the result is
 * keyed by judge + set, so it is paid once), then results.json with lineage, the rate-vs-fraction plot
 * and an HTML page, whose claims depend on the calibration. An Inspect task's grader is calibrated on its own
 * frozen sets by a trainer job on the GPU queue (it runs on the worker's CPU: no model is loaded).
 */
export async function reportRun(req: ReportRequest): Promise<ReportResult> {
  upsertSearchAttributes([{ key: MSM_STAGE, value: 'report' }]);
  // An Inspect task grades with its own classifier prompts: msm's judge sets do not measure that grader.
  if (req.judge && !req.evalSettings?.inspectTask) {
    const calibration = await llm.calibrateJudge({
      storeUri: req.storeUri,
      evalSet: req.loaded.evalSet,
      judge: req.judge,
      judgeAttempts: req.judgeAttempts,
      ...(req.claims?.maxFalsePositiveRate !== undefined &&
        req.claims.maxFalseNegativeRate !== undefined && {
          bar: {
            maxFalsePositiveRate: req.claims.maxFalsePositiveRate,
            maxFalseNegativeRate: req.claims.maxFalseNegativeRate,
          },
        }),
    });
    return cpu.writeReport({ ...req, calibration });
  }
  const inspectTask = req.evalSettings?.inspectTask;
  if (inspectTask && req.judge) {
    const calibration = await gpu.calibrateInspectGrader({
      storeUri: req.storeUri,
      evalSet: req.loaded.evalSet,
      task: inspectTask,
      judge: req.judge,
    });
    // null: no set applies to this task's scenarios; the report says the grader was not calibrated.
    return cpu.writeReport(calibration ? { ...req, calibration } : req);
  }
  return cpu.writeReport(req);
}

/**
 * `msm calibrate import`: labels a person gave the run's own samples join its judge's calibration, and the
 * report is written again with them (one CPU activity; bad labels fail it at once, naming each one).
 */
export async function humanLabelsImport(req: HumanLabelsImport): Promise<ReportResult & { labels: number }> {
  return cpu.importHumanLabels(req);
}
