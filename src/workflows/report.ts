import { upsertSearchAttributes } from '@temporalio/workflow';
import type { ReportRequest, ReportResult } from '../activities/types';
import { cpu } from './activity-proxies';
import { MSM_STAGE } from './search-attributes';

/** The report: results.json with lineage, the rate-vs-fraction plot and an HTML page. */
export async function reportRun(req: ReportRequest): Promise<ReportResult> {
  upsertSearchAttributes([{ key: MSM_STAGE, value: 'report' }]);
  return cpu.writeReport(req);
}
