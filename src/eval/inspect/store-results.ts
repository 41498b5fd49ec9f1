import type { ArtifactStore } from '../../store/artifact-store';
import { writeJson } from '../../store/json';
import type { EvalSummary } from '../types';
import { inspectJudgment, inspectSample, parseInspectResults } from './results';

/**
 * An Inspect job's results as msm's own records, next to the job's output: samples.jsonl and one judgment
 * per sample, then the cell's summary. Idempotent: a judgment already stored is kept, so a retry writes
 * only what is missing. `onProgress` lets the caller heartbeat.
 */
export async function storeInspectResults(
  store: ArtifactStore,
  evalKey: string,
  grader: string,
  onProgress: (done: number, of: number) => void = () => {},
): Promise<EvalSummary> {
  const out = `${evalKey}/inspect`;
  const results = parseInspectResults(
    (await store.get(`${out}/results.jsonl`)).toString('utf8'),
    store.uri(`${out}/results.jsonl`),
  );
  const samplesKey = `${evalKey}/samples/samples.jsonl`;
  if (!(await store.exists(samplesKey)))
    await store.put(samplesKey, results.map((r) => JSON.stringify(inspectSample(r))).join('\n') + '\n');
  const prefix = `${evalKey}/judgments-inspect`;
  let k = 0;
  let n = 0;
  let unjudged = 0;
  for (const [i, r] of results.entries()) {
    const j = inspectJudgment(r, grader);
    const key = `${prefix}/${j.promptId}-${j.sample}.json`;
    if (!(await store.exists(key))) await writeJson(store, key, j);
    if (j.verdict === 'unjudged') unjudged++;
    else {
      n++;
      if (j.verdict === 'violates') k++;
    }
    if ((i + 1) % 200 === 0) onProgress(i + 1, results.length);
  }
  return {
    k,
    n,
    unjudged,
    samplesUri: store.uri(samplesKey),
    judgmentsPrefix: store.uri(prefix),
    judgeModel: grader,
    logsUri: store.uri(`${out}/logs`),
  };
}
