/**
 * Record the histories of the controls experiment: the scripted experiment with a placebo arm, two
 * midtraining seeds (midtrain.seeds: a second corpus draw and midtraining, cells per seed), an external arm
 * (a model folder msm did not train: a first run's midtraining, copied without its msm description) and
 * eval.budgetUsd shared by allowances, each cell giving its sweep place back once sampled. LLM stages go to
 * the scripted server, the rest is real. Re-record only when retiring a patch (docs/deploying.md):
 *   node --import tsx scripts/record-controls-histories.ts [tests/histories]
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { msmExperiment, progressQuery } from '../src/workflows';
import { scriptedExperiment } from '../tests/helpers/scripted-experiment';
import { recordScriptedRun } from './record-histories';

const WORKFLOW_ID = 'msm-controls-v1';

recordScriptedRun(WORKFLOW_ID, async (env, baseUrl) => {
  const { input } = scriptedExperiment(WORKFLOW_ID, baseUrl);
  const aft = { ...input.aft, fractions: [1], seeds: [0] } as typeof input.aft;
  const run = (workflowId: string, x: typeof input) =>
    env.client.workflow.execute(msmExperiment, { taskQueue: 'msm', workflowId, args: [x] });
  // Someone else's model: a first run's midtraining (full weights), without the file that says msm made it.
  const first = `${WORKFLOW_ID}-source`;
  await run(first, { ...input, aft: { ...aft, arms: ['msm'] } as typeof input.aft });
  const made = (await env.client.workflow.getHandle(first).query(progressQuery)).midtrain!.outputUri;
  const released = path.join(mkdtempSync(path.join(os.tmpdir(), 'msm-released-')), 'model');
  cpSync(fileURLToPath(made), released, { recursive: true });
  rmSync(path.join(released, 'msm_model.json'));
  const external = { name: 'released', start: 'external', aft: 'none', model: released };
  await run(WORKFLOW_ID, {
    ...input,
    midtrain: { ...input.midtrain, seeds: [0, 1] },
    aft: { ...aft, arms: ['baseline', 'msm', 'placebo', external] } as typeof input.aft,
    // A priced judge, so its cells are judged in rounds under allowances the experiment grants.
    eval: {
      ...input.eval,
      judge: { ...input.eval.judge, price: { inputPerMillion: 3, outputPerMillion: 15 } } as typeof input.eval.judge,
      budgetUsd: 100,
    },
  });
});
