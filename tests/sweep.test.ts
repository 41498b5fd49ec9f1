import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { expandSweep, gridPoints, InvalidSweepError, pointExperiment } from '../src/sweep/grid';
import { loadSweepFile } from '../src/sweep/load-sweep-file';
import type { SweepInput } from '../src/sweep/sweep-schema';
import { PROJECT_ROOT } from '../src/util/project-paths';
import { msmSweep } from '../src/workflows';
import { scriptedExperiment } from './helpers/scripted-experiment';
import { useScriptedTemporal } from './helpers/scripted-temporal';

const minimal = { name: 'b', spec: 'specs/demo.md', aft: { data: 'a.jsonl' }, eval: { prompts: 'e.jsonl' } };

describe('sweep grids (pure)', () => {
  it('every combination, first axis slowest, minus excluded points, plus included ones; ids from the values', () => {
    const points = gridPoints({
      axes: { specVariant: ['rules', 'rules+values'], 'aft.generate.style': ['rule', 'value'] },
      exclude: [{ specVariant: 'rules', 'aft.generate.style': 'value' }],
      include: [{ specVariant: 'full', 'aft.generate.style': 'rule' }],
    });
    expect(points.map((p) => p.id)).toEqual(['rules_rule', 'rules-values_rule', 'rules-values_value', 'full_rule']);
    expect(points[1].values).toEqual({ specVariant: 'rules+values', 'aft.generate.style': 'rule' });
    // Same sweep, same ids: a re-run re-attaches to the same child workflows.
    const plain = (axes: SweepInput['axes']) => gridPoints({ axes, include: [], exclude: [] });
    expect(plain({ specVariant: ['rules', 'rules+values'], 'aft.generate.style': ['rule', 'value'] }).map((p) => p.id)).toContain('rules-values_value');
    // Values that slug alike still get distinct ids.
    expect(new Set(plain({ specVariant: ['a b', 'a-b'] }).map((p) => p.id)).size).toBe(2);
  });

  it('sets each value at its path in a copy of the base and names the point', () => {
    const x = pointExperiment(minimal, 'sci', { id: 'v', values: { specVariant: 'rules', 'aft.seeds': [0, 1], 'midtrain.lr': 0.01 } });
    expect(x).toMatchObject({ name: 'sci-v', specVariant: 'rules', aft: { data: 'a.jsonl', seeds: [0, 1] }, midtrain: { lr: 0.01 } });
    expect(minimal).not.toHaveProperty('specVariant');
  });

  it('refuses, before anything starts, a path the experiment does not have and a value it does not accept', () => {
    const sweep = (axes: SweepInput['axes']): SweepInput => ({ name: 's', base: minimal, axes, include: [], exclude: [], concurrency: 1 });
    expect(() => expandSweep(sweep({ specVarient: ['rules'] }))).toThrow(/point rules: .*unknown field\(s\) specVarient/);
    expect(() => expandSweep(sweep({ specVariant: ['rules', 'everything'] }))).toThrow(InvalidSweepError);
    expect(() => expandSweep(sweep({ specVariant: ['rules', 'everything'] }))).toThrow(/point everything: specVariant/);
    expect(() => expandSweep({ ...sweep({ specVariant: ['rules'] }), only: ['nope'] })).toThrow(/no point nope in this sweep \(points: rules\)/);
  });

  it('experiments/spec-science.yaml is one sweep of four spec variants', () => {
    const { input, points } = loadSweepFile(path.join(PROJECT_ROOT, 'experiments', 'spec-science.yaml'));
    expect(points.map((p) => p.id)).toEqual(['rules', 'rules-values', 'rules-subrules', 'full']);
    expect(points.map((p) => p.experiment.specVariant)).toEqual(['rules', 'rules+values', 'rules+subrules', 'full']);
    expect(input.base).toMatchObject({ spec: 'specs/demo.md' }); // the content, not the path, is the workflow input
  });
});

describe('msmSweep on a real Temporal server', () => {
  const t = useScriptedTemporal();

  it('runs every point as a child, tolerates a failed point, retries it alone, then compares all; a schedule starts the same sweep', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-sweep-test-'));
    const late = path.join(dir, 'late-aft.jsonl'); // missing at first: that point fails, not retryable
    const base = scriptedExperiment('sweep', t.llm.baseUrl).input;
    const { input: experiment } = scriptedExperiment('sweep', t.llm.baseUrl, {
      midtrain: { method: 'full', lr: 0.001, batchSize: 4, maxSteps: 3, checkpointEverySteps: 50 },
      aft: { ...base.aft, fractions: [1] },
    });
    const sweepFile = path.join(dir, 'sweep.yaml');
    writeFileSync(path.join(dir, 'base.json'), JSON.stringify(experiment));
    writeFileSync(sweepFile, YAML.stringify({ name: 'sw', base: 'base.json', axes: { 'aft.data': ['experiments/data/demo-aft.jsonl', late] }, concurrency: 2 }));
    const { input, points } = loadSweepFile(sweepFile);
    const [good, bad] = points.map((p) => p.id);

    const first = await (await t.client.workflow.start(msmSweep, { taskQueue: 'msm', workflowId: 'sweep-e2e', args: [input] })).result();
    expect(first.points.map((p) => [p.id, p.status])).toEqual([[good, 'done'], [bad, 'failed']]);
    expect(first.points[1].error).toMatch(/late-aft\.jsonl/);
    expect(first.points[1].workflowId).toBe(`sweep-e2e.${bad}`);
    expect(first.comparison).toMatchObject({ compared: 0, note: expect.stringMatching(/at least two/) });
    const md1 = readFileSync(fileURLToPath(first.comparison!.markdownUri), 'utf8');
    expect(md1).toContain(`msm sweep retry sweep-e2e ${bad}`);

    // The data appears; `msm sweep retry` runs the failed point alone.
    copyFileSync(path.join(PROJECT_ROOT, 'experiments', 'data', 'demo-aft.jsonl'), late);
    // The CLI runs as a child process, without blocking this one (its workers run the sweep).
    const msm = (...args: string[]) =>
      new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
        const env = { ...process.env, TEMPORAL_ADDRESS: t.env.server.address };
        execFile(path.join(PROJECT_ROOT, 'bin', 'msm'), args, { encoding: 'utf8', env, timeout: 400_000 }, (err, stdout, stderr) =>
          resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
    const retry = await msm('sweep', 'retry', 'sweep-e2e', bad, '--wait');
    expect(retry.status, retry.stderr).toBe(0);
    expect(retry.stdout).toMatch(/comparison: file:\/\//);
    const second = await t.client.workflow.getHandle<typeof msmSweep>('sweep-e2e').result();
    expect(second.points.map((p) => p.status)).toEqual(['done', 'done']);
    expect(second.comparison).toMatchObject({ compared: 2 });
    expect(readFileSync(fileURLToPath(second.comparison!.htmlUri), 'utf8')).toContain('<h2>Comparison</h2>');
    // The good point's experiment ran once: the retry kept its outcome instead of starting it again.
    const runsOf = async (id: string) => {
      let n = 0;
      for await (const _ of t.client.workflow.list({ query: `WorkflowId = '${id}'` })) n++;
      return n;
    };
    expect(await runsOf(`sweep-e2e.${good}`)).toBe(1);
    expect(await runsOf(`sweep-e2e.${bad}`)).toBe(2);

    // A schedule holds the sweep's content; a trigger starts it, findable by TemporalScheduledById.
    const created = await msm('schedule', 'create', 'sw-nightly', sweepFile, '--cron', '0 3 * * *', '--paused', '--note', 'test');
    expect(created.status, created.stderr).toBe(0);
    const described = JSON.parse((await msm('schedule', 'describe', 'sw-nightly')).stdout) as { workflowType: string; policies: { overlap: string }; state: { paused: boolean } };
    expect(described).toMatchObject({ workflowType: 'msmSweep', state: { paused: true } });
    expect((await msm('schedule', 'trigger', 'sw-nightly')).status).toBe(0);
    let scheduled: string | undefined;
    const deadline = Date.now() + 60_000;
    while (!scheduled && Date.now() < deadline) {
      for await (const w of t.client.workflow.list({ query: `TemporalScheduledById = 'sw-nightly'` })) scheduled = w.workflowId;
      if (!scheduled) await new Promise((r) => setTimeout(r, 500));
    }
    expect(scheduled).toMatch(/^sw-nightly/);
    const scheduledRun = await t.client.workflow.getHandle<typeof msmSweep>(scheduled!).result();
    expect(scheduledRun.points.map((p) => p.status)).toEqual(['done', 'done']); // every artifact reused from the store
    expect((await msm('schedule', 'delete', 'sw-nightly')).status).toBe(0);
  }, 900_000);
});
