import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CellResult, ReportRequest } from '../../src/activities/types';
import { CALIBRATION_KINDS, loadCalibrationSet } from '../../src/eval/judge-calibration';
import type { Results } from '../../src/report/results';
import { FsArtifactStore } from '../../src/store/fs-store';
import { writeJson } from '../../src/store/json';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import { reportRun } from '../../src/workflows';
import { recordHistories } from '../../scripts/record-histories';
import { startTemporalWithWorkers, type TemporalTestEnv } from '../helpers/in-process-workers';
import { startScriptedLlmServer, type ChatRequestBody } from '../helpers/scripted-llm-server';

/**
 * The report workflow on a real Temporal server: the judge is calibrated (LLM queue) before the report is
 * written, and the report's claims follow from the calibration and the data. The judges are a scripted
 * server: "oracle-judge" knows the answer to every calibration item, "yes-judge" says "violates" to
 * everything (as the demo's local 270M judge does).
 * MSM_RECORD_HISTORY=tests/histories re-records the calibrated report's history for tests/workflows/replay.test.ts.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'msm-report-calibration-'));
const storeUri = pathToFileURL(root).href;
const store = new FsArtifactStore(storeUri);
let env: TemporalTestEnv;
let llm: Awaited<ReturnType<typeof startScriptedLlmServer>>;

// The answer key: every calibration response, with whether it shows the behaviour and the target it is scored for.
const key = new Map(
  CALIBRATION_KINDS.flatMap((k) =>
    loadCalibrationSet(k).items.map(
      (i) => [i.response.trim(), { shows: i.shows, target: i.line.scoring?.target }] as const,
    ),
  ),
);

function respond(body: ChatRequestBody): string {
  const user = body.messages?.find((m) => m.role === 'user')?.content ?? '';
  const inside = (tag: string) => user.match(new RegExp(`<${tag}>\\n([\\s\\S]*)\\n</${tag}>`))?.[1] ?? '';
  const reasoning = 'A scripted verdict on this one answer.';
  const agentic = user.startsWith('Harmful action (');
  const values = user.startsWith('Values:');
  const known = key.get(inside(agentic ? 'reply' : 'answer').trim());
  if (body.model === 'oracle-judge' && !known)
    throw new Error(`the oracle was sent an answer it does not know: ${user.slice(0, 200)}`);
  const shows = body.model === 'yes-judge' ? true : known!.shows;
  if (values) return JSON.stringify({ reasoning, value: shows ? (known?.target ?? 'america') : 'neither' });
  return JSON.stringify({ reasoning, verdict: shows ? 'violates' : 'complies', ...(agentic && { executed: false }) });
}

// Three kinds of judging (criterion from the demo's lines, leaking, values) and one parsed forced choice.
const evalLines = () => {
  const read = (f: string) =>
    readFileSync(path.join(PROJECT_ROOT, 'experiments', 'data', f), 'utf8')
      .split('\n')
      .filter((l) => l.trim());
  const cheese = read('cheese-values-eval.jsonl');
  return [
    ...read('demo-eval.jsonl'),
    read('agentic-eval.jsonl')[0],
    cheese.find((l) => l.includes('"kind":"judge"'))!,
    cheese.find((l) => l.includes('"kind":"choice"'))!,
  ];
};

/** A cell whose k of n stored judgments say "violates" (one file per sample, as the eval activity writes them). */
async function cell(
  label: string,
  arm: 'baseline' | 'msm',
  fraction: number,
  k: number,
  n: number,
): Promise<CellResult> {
  const prefix = `evals/${label}/${arm}-${fraction}/judgments-j`;
  for (let s = 0; s < n; s++) {
    await writeJson(store, `${prefix}/p-${s}.json`, {
      promptId: 'p',
      sample: s,
      verdict: s < k ? 'violates' : 'complies',
      reasoning: '',
      judge: 'j',
    });
  }
  return {
    arm,
    fraction,
    seed: 0,
    train: {
      outputUri: `${storeUri}/runs/${label}-${arm}-${fraction}/final`,
      runKey: 'r',
      metrics: { final_loss: 1 },
      resumedFromStep: null,
      preemptions: 0,
    },
    eval: {
      k,
      n,
      samplesUri: `${storeUri}/evals/${label}/samples.jsonl`,
      judgmentsPrefix: store.uri(prefix),
      judgeModel: 'openai:judge',
    },
  };
}

async function request(
  label: string,
  judgeModel: string,
  k: Record<'baseline' | 'msm', [number, number]>,
  n: number,
): Promise<ReportRequest> {
  return {
    storeUri,
    workflowId: `wf-${label}`,
    loaded: {
      storeUri,
      name: label,
      baseModel: 'tiny',
      spec: { key: 'inputs/spec.md', hash: 'spec-hash', title: 'Spec', variant: 'full', sections: 1, rules: 2 },
      aftData: { key: 'inputs/aft.jsonl', sha256: 'aft', examples: 400 },
      evalSet: { key: 'inputs/eval.jsonl', sha256: 'eval', prompts: evalLines().length },
    },
    corpus: {
      manifestKey: 'corpus/m.json',
      hash: 'corpus',
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
    midtrain: {
      outputUri: `${storeUri}/runs/midtrain/final`,
      runKey: 'm',
      metrics: { final_loss: 2 },
      resumedFromStep: null,
      preemptions: 0,
    },
    cells: [
      await cell(label, 'baseline', 1, k.baseline[0], n),
      await cell(label, 'baseline', 0.25, k.baseline[1], n),
      await cell(label, 'msm', 1, k.msm[0], n),
      await cell(label, 'msm', 0.25, k.msm[1], n),
    ],
    judge: { kind: 'openai', baseUrl: llm.baseUrl, model: judgeModel, timeoutMs: 10_000 } as ReportRequest['judge'],
    claims: {},
  };
}

async function report(req: ReportRequest): Promise<{ results: Results; md: string; html: string; headline: string[] }> {
  const workflowId = `msm-calibrated-${req.loaded.name}.report`;
  const out = await env.client.workflow.execute(reportRun, { taskQueue: 'msm', workflowId, args: [req] });
  if (process.env.MSM_RECORD_HISTORY && req.loaded.name === 'good')
    recordHistories(env.server.address, workflowId, process.env.MSM_RECORD_HISTORY);
  const dir = path.dirname(fileURLToPath(out.resultsUri));
  const read = (f: string) => readFileSync(path.join(dir, f), 'utf8');
  return {
    results: JSON.parse(read('results.json')) as Results,
    md: read('report.md'),
    html: read('report.html'),
    headline: out.headline!,
  };
}

beforeAll(async () => {
  llm = await startScriptedLlmServer({ respond });
  await store.put('inputs/eval.jsonl', evalLines().join('\n') + '\n');
  env = await startTemporalWithWorkers();
}, 120_000);

afterAll(async () => {
  await env?.close();
  await llm?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('judge calibration in the report workflow (real Temporal server)', () => {
  it('a good judge passes calibration on every kind the eval set uses, and the claims are stated', async () => {
    // msm at 1/4 (40/200) is within 2 points of the baseline's full-data 60/200, and far below the baseline at 1/4.
    const { results, md, headline } = await report(
      await request('good', 'oracle-judge', { baseline: [60, 150], msm: [15, 40] }, 200),
    );
    // Every criterion, leaking and values item, each judged once; the forced choice needs no judge.
    const sizes = ['criterion', 'leaking', 'values'].map((k) => loadCalibrationSet(k as never).items.length);
    expect(llm.requests).toHaveLength(sizes.reduce((a, b) => a + b, 0));
    expect(results.calibration).toMatchObject({
      status: 'passed',
      judgeModel: 'openai:oracle-judge',
      parsedByCode: true,
      bar: { maxFalsePositiveRate: 0.05, maxFalseNegativeRate: 0.1 },
    });
    expect(results.calibration.kinds.map((k) => [k.kind, k.balancedAccuracy, k.passed, k.stoppedEarly])).toEqual([
      ['criterion', 1, true, undefined],
      ['leaking', 1, true, undefined],
      ['values', 1, true, undefined],
    ]);
    expect(results.headline.claims).toEqual({
      rates: {},
      primary: { arm: 'msm', versus: 'baseline', fraction: 1 },
      dataEfficiency: {},
    });
    expect(results.dataEfficiency.withheld).toBeUndefined();
    expect(headline[0]).toMatch(
      /^The judge \(openai:oracle-judge\) passed calibration .* Forced-choice answers are parsed by code and need no calibration\.$/,
    );
    expect(headline[2]).toMatch(
      /^The MSM arm stays within \+2\.0 pp of the baseline's full-data rate \(30\.0%\) from the smallest AFT fraction run, 1\/4, upward: it needs at least 4\.00× less AFT data/,
    );
    expect(md).toContain(`> ${headline[2]}`);
    const leaking = results.calibration.kinds.find((k) => k.kind === 'leaking')!;
    expect(md).toContain(
      `| leaking | ${leaking.shows} / ${leaking.clean} | 0/${leaking.clean}: 0.0% (≤ 2.4%) | 0/${leaking.shows}: 0.0% (≤ 2.5%) | 100.0% | — | yes |`,
    );
  }, 120_000);

  it('a ceiling result withholds the data-efficiency factor and the primary outcome, with the reason; the calibration is not paid again', async () => {
    const before = llm.requests.length;
    const { results, html, headline } = await report(
      await request('ceiling', 'oracle-judge', { baseline: [16, 16], msm: [16, 16] }, 16),
    );
    expect(llm.requests.length).toBe(before);
    expect(results.calibration.status).toBe('passed');
    expect(results.headline.claims.rates).toEqual({});
    expect(results.dataEfficiency.estimate).toMatchObject({ status: 'lower-bound', factor: 4 });
    expect(results.dataEfficiency.withheld!.reason).toMatch(
      /^baseline's full-data rate is at the ceiling \(100% lies within its 95% interval: 16\/16/,
    );
    expect(results.headline.claims.primary!.withheld!.reason).toMatch(/ceiling/);
    expect(headline[2]).toMatch(
      /^Data-efficiency factor withheld: baseline's full-data rate is at the ceiling .* Computed anyway, not a finding: /,
    );
    expect(html).toContain('<p class="answer withheld" id="data-efficiency">Data-efficiency factor withheld');
  }, 120_000);

  it('a judge that says "violates" to everything fails calibration within a few items, and the report claims nothing', async () => {
    const before = llm.requests.length;
    const { results, md, headline } = await report(
      await request('yes', 'yes-judge', { baseline: [60, 150], msm: [15, 40] }, 200),
    );
    // Showing and clean items alternate: its second false positive already puts the bound out of reach.
    // 2 false positives of 120 or 122 clean items bound the rate at 5.2% or more; of 140, it takes 3.
    expect(llm.requests.length - before).toBe(4 + 4 + 6);
    expect(results.calibration.status).toBe('failed');
    expect(
      results.calibration.kinds.every(
        (k) => k.falsePositiveRate === 1 && !k.passed && k.stoppedEarly?.judged === (k.kind === 'values' ? 6 : 4),
      ),
    ).toBe(true);
    expect(headline[0]).toMatch(
      /^The judge \(openai:yes-judge\) failed calibration: criterion: false positives 2 in the first 2 of 120 clean items, upper bound 5\.2% > 5\.0%, judging stopped after 4 of 240 items: cannot reach a false-positive upper bound ≤ 5\.0% .*No rate, difference or data-efficiency claim in this report is a finding/,
    );
    for (const claim of [
      results.headline.claims.rates,
      results.headline.claims.primary!,
      results.headline.claims.dataEfficiency,
    ]) {
      expect(claim.withheld!.reason).toMatch(
        /^the judge failed calibration \(criterion: false positives 2 in the first 2 of 120 clean items, upper bound 5\.2% > 5\.0%, .*; leaking: false positives 2 in the first 2 of 122 clean items, .*; values: false positives 3 in the first 3 of 140 clean items, /,
      );
    }
    expect(headline.slice(1).every((s) => /withheld: .* Computed anyway, not a finding: /.test(s))).toBe(true);
    expect(md).toContain('**Not findings: the judge failed calibration');
    expect(md).toContain(
      '| criterion | 2 / 2 (stopped after 4 of 240 items: cannot reach a false-positive upper bound ≤ 5.0%) |',
    );
  }, 120_000);
});
