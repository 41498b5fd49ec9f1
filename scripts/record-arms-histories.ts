/**
 * Record the histories of the arms experiment (tests/helpers/arms-experiment.ts): controls base and
 * msm-only, baseline, msm, deliberative and spec-in-context, with AFT data from aft.generate. LLM stages go
 * to the scripted server, the rest is real. Run it only together with a patched() migration:
 *   node --import tsx scripts/record-arms-histories.ts [tests/histories]
 */
import { armsExperiment, armsRespond } from '../tests/helpers/arms-experiment';
import { startTemporalWithWorkers } from '../tests/helpers/in-process-workers';
import { startScriptedLlmServer } from '../tests/helpers/scripted-llm-server';
import { msmExperiment } from '../src/workflows';
import { recordHistories } from './record-histories';

const WORKFLOW_ID = 'msm-arms-v1';

async function main() {
  const outDir = process.argv[2] ?? 'tests/histories';
  const llm = await startScriptedLlmServer({ respond: armsRespond });
  const env = await startTemporalWithWorkers();
  try {
    const { input } = armsExperiment(WORKFLOW_ID, llm.baseUrl);
    const handle = await env.client.workflow.start(msmExperiment, { taskQueue: 'msm', workflowId: WORKFLOW_ID, args: [input] });
    await handle.result();
    recordHistories(env.server.address, WORKFLOW_ID, outDir);
  } finally {
    await env.close();
    await llm.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
