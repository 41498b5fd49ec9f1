import { patched, upsertSearchAttributes } from '@temporalio/workflow';
import type { ReportRequest, ReportResult } from '../report/types';
import { cpu, llm } from './activity-proxies';
import { MSM_STAGE } from './search-attributes';

/**
 * The report: the judge is first calibrated on frozen sets of known answers (LLM queue; the result is
 * keyed by judge + set, so it is paid once), then results.json with lineage, the rate-vs-fraction plot
 * and an HTML page, whose claims depend on the calibration.
 */
export async function reportRun(req: ReportRequest): Promise<ReportResult> {
  upsertSearchAttributes([{ key: MSM_STAGE, value: 'report' }]);
  // Reports recorded before calibration existed replay without it (and say the judge was not calibrated).
  if (patched('judge-calibration') && req.judge) {
    const calibration = await llm.calibrateJudge({
      storeUri: req.storeUri,
      evalSet: req.loaded.evalSet,
      judge: req.judge,
    });
    return cpu.writeReport({ ...req, calibration });
  }
  return cpu.writeReport(req);
}
