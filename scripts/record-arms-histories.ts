/**
 * Record the histories of the arms experiment (tests/helpers/arms-experiment.ts): controls base and
 * msm-only, baseline, msm, deliberative and spec-in-context, with AFT data from aft.generate. LLM stages go
 * to the scripted server, the rest is real. Re-record only when retiring a patch (docs/deploying.md):
 *   node --import tsx scripts/record-arms-histories.ts [tests/histories]
 */
import { armsExperiment, armsRespond } from '../tests/helpers/arms-experiment';
import { msmExperiment } from '../src/workflows';
import { recordScriptedRun } from './record-histories';

const WORKFLOW_ID = 'msm-arms-v1';

recordScriptedRun(
  WORKFLOW_ID,
  async (env, baseUrl) => {
    const { input } = armsExperiment(WORKFLOW_ID, baseUrl);
    await env.client.workflow.execute(msmExperiment, { taskQueue: 'msm', workflowId: WORKFLOW_ID, args: [input] });
  },
  { respond: armsRespond },
);
