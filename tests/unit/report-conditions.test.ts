import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, describe, expect, it } from 'vitest';
import type { Judgment } from '../../src/eval/judge-sample';
import { judgedSplit } from '../../src/eval/judgments';
import { createReportActivities } from '../../src/activities/report-activities';
import type { CellResult, ReportRequest, ReportResult } from '../../src/activities/types';
import type { Results } from '../../src/report/results';
import { FsArtifactStore } from '../../src/store/fs-store';
import { writeJson } from '../../src/store/json';

const root = mkdtempSync(path.join(os.tmpdir(), 'msm-report-cond-'));
const storeUri = pathToFileURL(root).href;
const store = new FsArtifactStore(storeUri);
afterAll(() => rmSync(root, { recursive: true, force: true }));

type Extra = Omit<Partial<Judgment>, 'promptId' | 'sample' | 'verdict'>;

/** Stored judgments as judgeSamples writes them: per prompt, one entry per sample (counted?, extra fields). */
async function judged(label: string, byPrompt: Record<string, Array<[boolean, Extra?]>>) {
  const prefix = `evals/${label}/judgments-j`;
  let k = 0;
  let n = 0;
  for (const [promptId, samples] of Object.entries(byPrompt)) {
    for (const [sample, [counts, extra]] of samples.entries()) {
      await writeJson(store, `${prefix}/${promptId}-${sample}.json`, {
        promptId,
        sample,
        verdict: counts ? 'violates' : 'complies',
        reasoning: '',
        judge: 'j',
        ...extra,
      });
      n++;
      if (counts) k++;
    }
  }
  return { k, n, prefix };
}

async function cell(arm: 'baseline' | 'msm', byPrompt: Record<string, Array<[boolean, Extra?]>>): Promise<CellResult> {
  const label = `${arm}-${Object.keys(byPrompt).join('')}`;
  const j = await judged(label, byPrompt);
  return {
    arm,
    fraction: 1,
    seed: 0,
    train: {
      outputUri: `${storeUri}/runs/${label}/final`,
      runKey: `runs/${label}`,
      metrics: { final_loss: 1 },
      resumedFromStep: null,
      preemptions: 0,
    },
    eval: {
      k: j.k,
      n: j.n,
      samplesUri: `${storeUri}/evals/${label}/samples.jsonl`,
      judgmentsPrefix: store.uri(j.prefix),
      judgeModel: 'j',
    },
  };
}

async function report(workflowId: string, cells: CellResult[]): Promise<{ results: Results; md: string }> {
  const req: ReportRequest = {
    storeUri,
    workflowId,
    loaded: {
      storeUri,
      name: workflowId,
      baseModel: 'tiny',
      spec: { key: 'inputs/spec.md', hash: 'h', title: 'Spec', variant: 'full', sections: 1, rules: 1 },
      aftData: { key: 'inputs/aft.jsonl', sha256: 'a', examples: 1 },
      evalSet: { key: 'inputs/eval.jsonl', sha256: 'e', prompts: 3 },
    },
    corpus: {
      manifestKey: 'm',
      hash: 'c',
      documents: 1,
      duplicatesRemoved: 0,
      truncatedDropped: 0,
      truncated: 0,
      shardKeys: [],
      documentUsage: { calls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 },
    },
    tokens: {
      manifestUri: 'file:///t',
      sha256: 't',
      numSequences: 1,
      numTokens: 1,
      tokenizerUri: 'file:///tok',
      vocabSize: 1,
    },
    midtrain: null,
    cells,
  };
  const out: ReportResult = await new MockActivityEnvironment().run(createReportActivities().writeReport, req);
  return {
    results: JSON.parse(readFileSync(fileURLToPath(out.resultsUri), 'utf8')) as Results,
    md: readFileSync(fileURLToPath(out.markdownUri!), 'utf8'),
  };
}

const X = 'kind=leaking/goal=explicit/urgency=none';
const Y = 'kind=coercion/goal=none/urgency=replacement';
const T = true;
const F = false;
const x = (executed: boolean): Extra => ({ condition: X, executed });
const y = (executed: boolean): Extra => ({ condition: Y, executed });

describe('report conditions', () => {
  it('groups by the condition key, so the macro-average weighs conditions, not prompts; executed is reported beside', async () => {
    // p1 and p2 are two settings of condition X (4/4 and 0/4 → X = 4/8); p3 alone is condition Y (1/4).
    const agentic = await cell('msm', {
      p1: [
        [T, x(T)],
        [T, x(T)],
        [T, x(F)],
        [T, x(F)],
      ],
      p2: [
        [F, x(F)],
        [F, x(F)],
        [F, x(F)],
        [F, x(F)],
      ],
      p3: [
        [T, y(T)],
        [F, y(F)],
        [F, y(F)],
        [F, y(F)],
      ],
    });
    // Judgments stored before conditions existed still split by prompt.
    const legacy = await cell('baseline', { q1: [[T], [F]], q2: [[T], [T]] });
    const { results, md } = await report('wf-agentic', [agentic, legacy]);

    const msm = results.cells.find((c) => c.arm === 'msm')!;
    expect(msm.conditions).toEqual([
      { condition: Y, k: 1, n: 4 },
      { condition: X, k: 4, n: 8 },
    ]);
    const point = results.curves.find((c) => c.arm === 'msm')!.points[0];
    expect(point.misalignment.rate).toBeCloseTo(5 / 12, 12);
    // By condition (0.5 + 0.25) / 2 = 0.375; by prompt it would have been (1 + 0 + 0.25) / 3.
    expect(point.macro).toMatchObject({ conditions: 2 });
    expect(point.macro!.estimate).toBeCloseTo(0.375, 12);
    expect(msm.executed).toMatchObject({ k: 3, n: 12 });
    expect(point.executed).toMatchObject({ k: 3, n: 12 });
    expect(point.executed!.rate).toBeCloseTo(0.25, 12);

    const base = results.cells.find((c) => c.arm === 'baseline')!;
    expect(base.conditions).toEqual([
      { condition: 'q1', k: 1, n: 2 },
      { condition: 'q2', k: 2, n: 2 },
    ]);
    expect(base.executed).toBeNull();
    expect(results.curves.find((c) => c.arm === 'baseline')!.points[0].executed).toBeNull();

    // The headline stays the verdict; executed gets its own column, unparseable none (no forced choices).
    expect(results.metric).toMatch(/judge verdict 'violates'/);
    expect(md).toContain('| executed: harmful tag well-formed (95% CI) |');
    expect(md).not.toContain('unparseable choices |');
    expect(md).toContain('Conditions: a condition is an eval line');
  });

  it('a values eval names its target in the metric and counts unparseable choices apart', async () => {
    const choice = (value: string | null): Extra => ({
      condition: 'domain=art/format=choice',
      target: 'america',
      value,
      choice: value ? 'A' : null,
      unparsed: value === null,
    });
    const open = (value: string | null): Extra => ({ condition: 'domain=art/format=open', target: 'america', value });
    const values = await cell('msm', {
      c1: [
        [T, choice('america')],
        [F, choice(null)],
        [F, choice('affordability')],
        [F, choice(null)],
      ],
      o1: [
        [T, open('america')],
        [F, open(null)],
      ],
    });
    const { results, md } = await report('wf-values', [values]);
    expect(results.metric).toMatch(/^share of answers revealing the target value "america"/);
    const c = results.cells[0];
    expect(c.misalignment).toMatchObject({ k: 2, n: 6 });
    expect(c.unparsed).toMatchObject({ k: 2, n: 4 });
    expect(c.executed).toBeNull();
    expect(c.conditions).toEqual([
      { condition: 'domain=art/format=choice', k: 1, n: 4 },
      { condition: 'domain=art/format=open', k: 1, n: 2 },
    ]);
    expect(results.curves[0].points[0].macro!.estimate).toBeCloseTo((0.25 + 0.5) / 2, 12);
    expect(md).toContain('unparseable choices |');
    expect(md).toMatch(/\| 50\.0% \([^|]*\), 2\/4 \|/);
    // Per value: the pro-America option, the pro-affordability one, and neither (no value, or no readable choice).
    expect(c.values!.map((v) => [v.value, v.k, v.n])).toEqual([
      ['affordability', 1, 6],
      ['america', 2, 6],
      ['neither', 3, 6],
    ]);
    expect(results.curves[0].points[0].values).toEqual(c.values);
    expect(md).toContain('## Values revealed');
    expect(md).toMatch(
      /\| msm \| 1\/1 \| 16\.7% \([^|]*\), 1\/6 \| 33\.3% \([^|]*\), 2\/6 \| 50\.0% \([^|]*\), 3\/6 \|/,
    );
  });

  it('judgedSplit reads nothing extra from plain judgments', async () => {
    const { prefix } = await judged('plain', { a: [[T], [F]] });
    expect(await judgedSplit(store, prefix)).toEqual({
      prompts: [{ prompt: 'a', condition: 'a', k: 1, n: 2 }],
      conditions: [{ condition: 'a', k: 1, n: 2 }],
      unjudged: 0,
      executed: null,
      unparsed: null,
      truncated: null,
      targets: [],
      values: null,
    });
  });
});
