/**
 * Record the histories of a sweep (msmSweep) of two points of the scripted experiment, one of which fails
 * by design (its spec file does not exist), with every child's. LLM stages go to the scripted server, the
 * rest is real. Re-record only when retiring a patch (docs/deploying.md):
 *   node --import tsx scripts/record-sweep-history.ts [tests/histories]
 */
import { scriptedExperiment } from '../tests/helpers/scripted-experiment';
import { msmSweep } from '../src/workflows';
import { recordScriptedRun } from './record-histories';

const WORKFLOW_ID = 'msm-sweep-v1';

recordScriptedRun(WORKFLOW_ID, async (env, baseUrl) => {
  const base = scriptedExperiment('sweep-v1', baseUrl).input;
  const { input: experiment } = scriptedExperiment('sweep-v1', baseUrl, {
    midtrain: { method: 'full', lr: 0.001, batchSize: 4, maxSteps: 3, checkpointEverySteps: 50 },
    aft: { ...base.aft, fractions: [1] },
  });
  const sweep = {
    name: 'v1',
    base: experiment,
    axes: { spec: ['specs/demo.md', 'specs/missing.md'] },
    include: [],
    exclude: [],
    concurrency: 2,
  };
  const out = await env.client.workflow.execute(msmSweep, { taskQueue: 'msm', workflowId: WORKFLOW_ID, args: [sweep] });
  console.log(out.points.map((p) => `${p.id}: ${p.status}`).join('\n'));
});
