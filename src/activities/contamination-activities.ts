import { Context } from '@temporalio/activity';
import { EmptyCorpusError } from '../corpus/assemble';
import { ContaminationError, decontaminate, type DecontaminateRequest } from '../eval/decontaminate';
import { openStore } from '../store/open-store';
import { badInput } from '../temporal/failures';

/**
 * eval.decontaminate: the corpus and AFT data checked against the eval set and the calibration sets
 * (src/eval/decontaminate.ts). Overlap under "fail", or a "drop" that leaves nothing, is bad input.
 */
async function checkContamination(storeUri: string, req: DecontaminateRequest) {
  try {
    return await decontaminate(openStore(storeUri), req, (checked) => {
      if (checked % 200 === 0) Context.current().heartbeat({ checked });
    });
  } catch (e) {
    if (e instanceof ContaminationError || e instanceof EmptyCorpusError) throw badInput(e.message, e);
    throw e;
  }
}

export function createContaminationActivities() {
  return { checkContamination };
}
