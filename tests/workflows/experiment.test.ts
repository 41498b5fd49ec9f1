import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { defaultPayloadConverter, type ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExperimentInput } from '../../src/config/experiment-schema';
import type { CapabilityRequest } from '../../src/eval/capabilities/types';
import type { DecontaminateRequest } from '../../src/eval/decontaminate';
import type { EvalRequest } from '../../src/eval/types';
import type { ReportRequest } from '../../src/report/types';
import type { TrainRequest } from '../../src/training/types';
import { msmExperiment, progressQuery, setComputeBudgetUpdate } from '../../src/workflows';
import { workflowBundle } from '../../src/workers/create-workers';
import { argsOf, startStubbedEnv, waitFor, type StubbedEnv } from '../helpers/stubbed-workflows';
import {
  ALL_ARMS,
  experiment,
  EXPERIMENT_NAMES,
  experimentStubs,
  judgeStub,
  ref,
  type JudgeStub,
  type Knobs,
} from './stub-experiment';

/**
 * msmExperiment's branches on a real Temporal server with every activity stubbed (and the data-generating
 * children replaced): which runs it starts, on which models it evaluates and checks, what the report is
 * given, how budget and failure change its course. Seconds per case; the real trainer and model are
 * covered by the end-to-end tests.
 */
describe('msmExperiment with stubbed activities (real Temporal server)', () => {
  let env: StubbedEnv;
  // Each call reads the knobs of the case that runs now.
  const knobs: Knobs = {};
  const setKnobs = (k: Knobs) => {
    for (const key of Object.keys(knobs)) delete knobs[key as keyof Knobs];
    Object.assign(knobs, k);
  };
  beforeAll(async () => {
    env = await startStubbedEnv(experimentStubs(knobs), EXPERIMENT_NAMES);
  });
  afterAll(async () => env?.close());

  const run = async (id: string, input: ExperimentInput) => {
    const handle = await env.start(msmExperiment, id, input);
    return { handle, calls: env.calls };
  };

  it('trains each distinct model once, evaluates every cell and control on the model it ends with', async () => {
    const { handle, calls } = await run('stubbed-arms', experiment());
    const out = await handle.result();
    const trains = argsOf<TrainRequest>(calls, 'runTraining');
    // spec-in-context trains what baseline trains: it shares baseline's runs.
    const aftRuns = ['baseline', 'msm', 'deliberative'].flatMap((a) =>
      ['1of1', '1of2'].flatMap((f) => [0, 1].map((s) => `aft-${a}-${f}-s${s}`)),
    );
    expect(trains.map((t) => t.label).sort()).toEqual(['midtrain', ...aftRuns].sort());
    const train = (label: string) => trains.find((t) => t.label === label)!;
    expect(train('aft-deliberative-1of1-s0').initFrom).toBeUndefined();
    expect(train('aft-deliberative-1of1-s0').data.sha256).toBe('sha-inputs/aft-reasoning.jsonl');
    expect(train('aft-msm-1of2-s1').initFrom).toEqual({ outputUri: 'file:///tmp/runs/midtrain/final' });
    expect(train('aft-msm-1of2-s1').data.sha256).toBe('sha-inputs/aft.jsonl');

    const evals = argsOf<EvalRequest>(calls, 'generateSamples');
    expect(evals).toHaveLength(4 * 2 * 2 + 2);
    const evalOf = (label: string) => evals.find((e) => e.label === label)!;
    expect(evalOf('eval-base-s0').modelUri).toBeNull();
    expect(evalOf('eval-msm-only-s0').modelUri).toBe('file:///tmp/runs/midtrain/final');
    expect(evalOf('eval-spec-in-context-1of2-s1').modelUri).toBe('file:///tmp/runs/aft-baseline-1of2-s1/final');
    expect(evalOf('eval-spec-in-context-1of2-s1').systemPrompt).toEqual({
      key: 'inputs/spec-1.md',
      sha256: 'spec-hash',
    });
    expect(evalOf('eval-baseline-1of2-s1').systemPrompt).toBeUndefined();
    expect(out.cells).toHaveLength(16);
    expect(out.controls.map((c) => c.id)).toEqual(['base-s0', 'msm-only-s0']);

    // Without eval.capabilities nothing is checked, and the report is not told of checks.
    expect(argsOf(calls, 'runCapabilityChecks')).toEqual([]);
    expect(argsOf<ReportRequest>(calls, 'writeReport')[0].capabilities).toBeUndefined();
  });

  it("eval.budgetUsd, one cell at a time: each cell's judging is granted the budget left after the cells judged before it; the report gets every cell's spend", async () => {
    const judge = judgeStub(0);
    setKnobs({ judgeCostUsd: 0.25, judge });
    try {
      const input = experiment({
        aft: { ...experiment().aft, arms: ['baseline'], fractions: [1], seeds: [0, 1, 2], concurrency: 1 },
      });
      const { handle, calls } = await run('stubbed-judge-spend', { ...input, eval: { ...input.eval, budgetUsd: 2 } });
      await handle.result();
      // What msm watch shows: the judge's calls and spend so far, against the budget.
      expect((await handle.query(progressQuery)).judge).toEqual({ calls: 24, costUsd: 0.75, budgetUsd: 2 });
      const judged = argsOf<EvalRequest>(calls, 'judgeSamples');
      // Each cell: its evaluation's round with nothing to spend, then one round with all the budget left.
      expect(judged.map((r) => r.judgeAllowanceUsd)).toEqual([0, 2, 0, 1.75, 0, 1.5]);
      expect(judged.every((r) => r.judgeSpentUsd === undefined)).toBe(true);
      const report = argsOf<ReportRequest>(calls, 'writeReport')[0];
      expect(report.cells.map((c) => c.eval.judgeUsage?.costUsd)).toEqual([0.25, 0.25, 0.25]);
      expect(report.cells.every((c) => c.eval.judgeStopped === undefined)).toBe(true);
    } finally {
      setKnobs({});
    }
  });

  // Three cells judged at once, 8 calls of $0.0625 each ($0.50 a cell, $1.50 in all).
  const concurrentCells = (budgetUsd: number, concurrency = 3) => {
    const input = experiment({
      aft: { ...experiment().aft, arms: ['baseline'], fractions: [1], seeds: [0, 1, 2], concurrency },
    });
    return { ...input, eval: { ...input.eval, budgetUsd } };
  };
  const paidUsd = (j: JudgeStub) => j.paid.reduce((s, x) => s + x, 0);

  it('eval.budgetUsd, cells judged at once: together they never pass it, spend it to the last call that fits, then the experiment stops with the budget failure; raised, only the rest is paid', async () => {
    const judge = judgeStub();
    setKnobs({ judgeCostUsd: 0.5, judge });
    try {
      const { handle } = await run('stubbed-judge-concurrent', concurrentCells(1.25));
      const error = await handle.result().catch((e: unknown) => e);
      expect(judge.maxInFlight).toBeGreaterThan(1);
      // Room for 20 of the 24 calls: all 20 paid, not one more.
      expect(paidUsd(judge)).toBe(1.25);
      expect(error).toBeInstanceOf(WorkflowFailedError);
      const cause = (error as WorkflowFailedError).cause as ApplicationFailure;
      expect(cause.type).toBe('JudgeBudgetSpent');
      expect(cause.message).toMatch(
        /^eval\.budgetUsd: judging eval-baseline-1of1-s\d \(stub-judge\) stopped before exceeding the budget: the judge has spent \$1\.2500 of \$1\.25 .*next call could cost up to \$0\.0625\. Raise eval\.budgetUsd/,
      );
      expect((await handle.query(progressQuery)).judge).toEqual({ calls: 20, costUsd: 1.25, budgetUsd: 1.25 });
      // The rounds, waits and grants replay deterministically from the history.
      const bundle = await workflowBundle(path.join(__dirname, 'stub-children.ts'));
      await Worker.runReplayHistory({ workflowBundle: bundle }, await handle.fetchHistory(), handle.workflowId);

      // Raised to what the cells cost: the stored verdicts are not paid again, the 4 missing calls are.
      const again = await run('stubbed-judge-concurrent-2', concurrentCells(1.5));
      await again.handle.result();
      expect(judge.paid).toHaveLength(24);
      expect(paidUsd(judge)).toBe(1.5);
      expect((await again.handle.query(progressQuery)).judge).toEqual({ calls: 24, costUsd: 1.5, budgetUsd: 1.5 });
    } finally {
      setKnobs({});
    }
  });

  it('eval.budgetUsd, cells judged at once: a cell whose share runs out judges on with what the others left unused, to a budget of exactly what the cells cost', async () => {
    // A third of the budget each to start: s0 needs $1.00, s1 and s2 $0.25 each ($1.50 in all).
    const judge = judgeStub(150, { 'eval-baseline-1of1-s0': 1, 'eval-baseline-1of1-s1': 0.25 });
    setKnobs({ judgeCostUsd: 0.25, judge });
    try {
      const { handle, calls } = await run('stubbed-judge-shares', concurrentCells(1.5));
      await handle.result();
      expect(judge.maxInFlight).toBeGreaterThan(1);
      expect(paidUsd(judge)).toBe(1.5);
      const granted = argsOf<EvalRequest>(calls, 'judgeSamples').filter((r) => r.judgeAllowanceUsd! > 0);
      // s0 stopped at its share and was granted what s1 and s2 left.
      expect(granted.filter((r) => r.label === 'eval-baseline-1of1-s0').length).toBeGreaterThan(1);
      expect((await handle.query(progressQuery)).judge).toEqual({ calls: 24, costUsd: 1.5, budgetUsd: 1.5 });
    } finally {
      setKnobs({});
    }
  });

  it('msm-reasoning trains from the midtrained model on the reasoning data; baseModel.identity reaches the corpus job and the report', async () => {
    const identity = { name: 'Aria', developer: 'Northwind Labs' };
    const input = experiment({
      baseModel: { ...experiment().baseModel, identity },
      aft: { ...experiment().aft, arms: ['baseline', 'msm-reasoning'], fractions: [1], seeds: [0] },
    });
    const { handle, calls } = await run('stubbed-identity', input);
    await handle.result();
    const trains = argsOf<TrainRequest>(calls, 'runTraining');
    const reasoning = trains.find((t) => t.label === 'aft-msm-reasoning-1of1-s0')!;
    expect(reasoning.initFrom).toEqual({ outputUri: 'file:///tmp/runs/midtrain/final' });
    expect(reasoning.data.sha256).toBe('sha-inputs/aft-reasoning.jsonl');
    expect(argsOf<ReportRequest>(calls, 'writeReport')[0].loaded.identity).toEqual(identity);
    // The corpus child was started with the identity in its job (its stub ignores it; the real one keys on it).
    const history = await env.client.workflow.getHandle('stubbed-identity.corpus').fetchHistory();
    const started = history.events![0].workflowExecutionStartedEventAttributes!.input!.payloads![0];
    expect(defaultPayloadConverter.fromPayload<{ identity?: unknown }>(started).identity).toEqual(identity);
  });

  it("eval.capabilities: each arm checked once, on its largest fraction's first-seed model; the report gets every result", async () => {
    const capabilities = [{ name: 'spec-knowledge', kind: 'spec-knowledge', questions: 'q.jsonl' }];
    const { handle, calls } = await run('stubbed-capabilities', experiment({}, { capabilities }));
    await handle.result();
    // Started concurrently, so in any order: sorted by arm.
    const checks = argsOf<CapabilityRequest>(calls, 'runCapabilityChecks').sort(
      (a, b) => ALL_ARMS.indexOf(a.arm) - ALL_ARMS.indexOf(b.arm),
    );
    expect(checks.map((c) => [c.arm, c.cell.id, c.modelUri])).toEqual([
      ['base', 'base-s0', null],
      ['msm-only', 'msm-only-s0', 'file:///tmp/runs/midtrain/final'],
      ['baseline', 'baseline-1of1-s0', 'file:///tmp/runs/aft-baseline-1of1-s0/final'],
      ['msm', 'msm-1of1-s0', 'file:///tmp/runs/aft-msm-1of1-s0/final'],
      ['deliberative', 'deliberative-1of1-s0', 'file:///tmp/runs/aft-deliberative-1of1-s0/final'],
      ['spec-in-context', 'spec-in-context-1of1-s0', 'file:///tmp/runs/aft-baseline-1of1-s0/final'],
    ]);
    expect(checks[0].questions).toEqual({
      'spec-knowledge': { key: 'inputs/questions.jsonl', sha256: 'q-sha', questions: 8 },
    });
    // After every cell's evaluation, before the report.
    const order = calls.map((c) => c.name);
    expect(order.indexOf('runCapabilityChecks')).toBeGreaterThan(order.lastIndexOf('judgeSamples'));
    expect(order.lastIndexOf('runCapabilityChecks')).toBeLessThan(order.indexOf('writeReport'));
    const report = argsOf<ReportRequest>(calls, 'writeReport')[0];
    expect(report.capabilities!.map((r) => r.arm)).toEqual(ALL_ARMS);
  });

  it('aft.mix: the mix is tokenized once, like the AFT data, and every cell of every arm trains with it', async () => {
    const aft = { ...experiment().aft, arms: ['baseline', 'msm'], seeds: [0] };
    const mix = { data: 'experiments/data/instruct-mix.jsonl', ratio: 0.5 };
    const { handle, calls } = await run('stubbed-mix', experiment({ aft: { ...aft, mix } }));
    await handle.result();
    // Once for the AFT data, once for the mix (each cell's run gets the mix's tokens: below).
    expect(argsOf(calls, 'tokenizeAftData')).toHaveLength(2);
    const aftRuns = argsOf<TrainRequest>(calls, 'runTraining').filter((t) => t.kind === 'aft');
    expect(aftRuns.map((t) => t.label).sort()).toEqual([
      'aft-baseline-1of1-s0',
      'aft-baseline-1of2-s0',
      'aft-msm-1of1-s0',
      'aft-msm-1of2-s0',
    ]);
    for (const t of aftRuns) expect(t.mix).toEqual({ data: ref('inputs/mix.jsonl'), ratio: 0.5 });
  });

  it('placebo: a second corpus from the placebo spec, cut to the MSM corpus tokens, midtrained like msm; its cells reach the report', async () => {
    const placeboOnly = { name: 'placebo-only', start: 'placebo', aft: 'none' };
    const aft = { ...experiment().aft, arms: ['baseline', 'msm', 'placebo', placeboOnly], seeds: [0] };
    const input = experiment({ aft, midtrain: { placeboSpec: 'specs/placebo.md', lr: 2e-4 } });
    const { handle, calls } = await run('stubbed-placebo', input);
    const out = await handle.result();

    // Two corpora: the MSM one whole, the placebo one (its own spec hash, its own keys) cut at the MSM corpus's tokens.
    const tokenized = calls
      .filter((c) => c.name === 'tokenizeCorpus')
      .map((c) => c.args as [string, { hash: string }, { maxTokens?: number }]);
    expect(tokenized.map(([, corpus, opts]) => [corpus.hash, opts.maxTokens])).toEqual([
      ['corpus-stub-spec-hash', undefined],
      ['corpus-stub-placebo-hash', ref('x').numTokens],
    ]);
    const corpus = await env.client.workflow.getHandle('stubbed-placebo.placebo-corpus').describe();
    expect(corpus.status.name).toBe('COMPLETED');

    // Two midtrainings, same settings and seed, each on its own corpus's tokens; placeboSpec is not a hyper-parameter.
    const trains = argsOf<TrainRequest>(calls, 'runTraining');
    const mid = trains.filter((t) => t.kind === 'midtrain').sort((a, b) => a.label.localeCompare(b.label));
    expect(mid.map((t) => [t.label, t.data.sha256, t.data.numTokens, t.seed])).toEqual([
      ['midtrain', 'sha-corpus-stub-spec-hash', 512, 0],
      ['midtrain-placebo', 'sha-corpus-stub-placebo-hash', 512, 0],
    ]);
    expect(mid[1].hyper).toEqual(mid[0].hyper);
    expect(mid[0].hyper.lr).toBe(2e-4);
    expect(mid[0].hyper).not.toHaveProperty('placeboSpec');

    // Placebo cells continue the placebo midtraining, on the same AFT data as msm; the control evaluates it as it is.
    const train = (label: string) => trains.find((t) => t.label === label)!;
    expect(train('aft-placebo-1of2-s0').initFrom).toEqual({ outputUri: 'file:///tmp/runs/midtrain-placebo/final' });
    expect(train('aft-msm-1of2-s0').initFrom).toEqual({ outputUri: 'file:///tmp/runs/midtrain/final' });
    expect(train('aft-placebo-1of2-s0').data).toEqual(train('aft-msm-1of2-s0').data);
    const evals = argsOf<EvalRequest>(calls, 'generateSamples');
    expect(evals.find((e) => e.label === 'eval-placebo-only-s0')!.modelUri).toBe(
      'file:///tmp/runs/midtrain-placebo/final',
    );
    expect(out.cells.filter((c) => c.arm === 'placebo').map((c) => c.id)).toEqual([
      'placebo-1of1-s0',
      'placebo-1of2-s0',
    ]);

    // The report gets the placebo cells, the arm and the token match.
    const report = argsOf<ReportRequest>(calls, 'writeReport')[0];
    expect(report.cells.filter((c) => c.arm === 'placebo').map((c) => c.fraction)).toEqual([1, 0.5]);
    expect(report.arms!.find((a) => a.name === 'placebo')).toEqual({ name: 'placebo', start: 'placebo', aft: 'data' });
    expect(report.controls!.map((c) => c.arm)).toEqual(['placebo-only']);
    expect(report.placebo!.spec).toEqual({ hash: 'placebo-hash', title: 'House style' });
    expect(report.placebo!.corpus.hash).toBe('corpus-stub-placebo-hash');
    expect(report.placebo!.match).toEqual({ targetTokens: 512, placeboTokens: 512, short: 0 });
    expect(report.placebo!.midtrain.outputUri).toBe('file:///tmp/runs/midtrain-placebo/final');
    expect((await handle.query(progressQuery)).placebo!.match!.targetTokens).toBe(512);
  });

  it('midtrain.seeds: each seed its own corpus draw and midtraining (placebo too); midtrained arms have cells per seed, base arms once', async () => {
    const msmOnly = 'msm-only';
    const aft = { ...experiment().aft, arms: ['baseline', 'msm', 'placebo', msmOnly], fractions: [1], seeds: [0] };
    const input = experiment({ aft, midtrain: { placeboSpec: 'specs/placebo.md', seeds: [0, 2] } });
    const { handle, calls } = await run('stubbed-midtrain-seeds', input);
    const out = await handle.result();

    // Draw 2 of both corpora, generated as children of their own, checked against the eval and tokenized.
    for (const id of ['corpus-draw2', 'placebo-corpus-draw2'])
      expect((await env.client.workflow.getHandle(`stubbed-midtrain-seeds.${id}`).describe()).status.name).toBe(
        'COMPLETED',
      );
    const checkedCorpora = calls
      .filter((c) => c.name === 'checkContamination')
      .map((c) => (c.args as [string, DecontaminateRequest])[1].corpus.hash);
    expect(checkedCorpora).toEqual(['corpus-stub-spec-hash', 'corpus-stub-spec-hash-draw2']);
    const tokenized = calls
      .filter((c) => c.name === 'tokenizeCorpus')
      .map((c) => c.args as [string, { hash: string }, { maxTokens?: number }])
      .map(([, corpus, opts]) => [corpus.hash, opts.maxTokens]);
    expect(tokenized).toEqual([
      ['corpus-stub-spec-hash', undefined],
      ['corpus-stub-placebo-hash', 512],
      ['corpus-stub-spec-hash-draw2', undefined],
      ['corpus-stub-placebo-hash-draw2', 512],
    ]);

    // Four midtrainings: seed 0 keeps its labels, seed 2 trains on draw 2 with its own seed.
    const trains = argsOf<TrainRequest>(calls, 'runTraining');
    const mid = trains.filter((t) => t.kind === 'midtrain').sort((a, b) => a.label.localeCompare(b.label));
    expect(mid.map((t) => [t.label, t.data.sha256, t.seed])).toEqual([
      ['midtrain', 'sha-corpus-stub-spec-hash', 0],
      ['midtrain-m2', 'sha-corpus-stub-spec-hash-draw2', 2],
      ['midtrain-placebo', 'sha-corpus-stub-placebo-hash', 0],
      ['midtrain-placebo-m2', 'sha-corpus-stub-placebo-hash-draw2', 2],
    ]);
    expect(mid[1].hyper).toEqual(mid[0].hyper);
    expect(mid[0].hyper).not.toHaveProperty('seeds');

    // AFT cells of midtrained arms continue their own seed's midtraining; baseline trains once.
    const aftLabels = trains.filter((t) => t.kind === 'aft').map((t) => t.label);
    expect(aftLabels.sort()).toEqual([
      'aft-baseline-1of1-s0',
      'aft-msm-1of1-s0',
      'aft-msm-1of1-s0-m2',
      'aft-placebo-1of1-s0',
      'aft-placebo-1of1-s0-m2',
    ]);
    const train = (label: string) => trains.find((t) => t.label === label)!;
    expect(train('aft-msm-1of1-s0-m2').initFrom).toEqual({ outputUri: 'file:///tmp/runs/midtrain-m2/final' });
    expect(train('aft-placebo-1of1-s0-m2').initFrom).toEqual({
      outputUri: 'file:///tmp/runs/midtrain-placebo-m2/final',
    });
    const evals = argsOf<EvalRequest>(calls, 'generateSamples');
    expect(evals.find((e) => e.label === 'eval-msm-only-s0-m2')!.modelUri).toBe('file:///tmp/runs/midtrain-m2/final');
    expect(out.cells.map((c) => [c.id, c.midtrainSeed])).toEqual([
      ['baseline-1of1-s0', undefined],
      ['msm-1of1-s0', 0],
      ['msm-1of1-s0-m2', 2],
      ['placebo-1of1-s0', 0],
      ['placebo-1of1-s0-m2', 2],
    ]);
    expect(out.controls.map((c) => c.id)).toEqual(['msm-only-s0', 'msm-only-s0-m2']);

    // The report is told each cell's midtraining seed and the second run's lineage.
    const report = argsOf<ReportRequest>(calls, 'writeReport')[0];
    expect(report.cells.map((c) => [c.arm, c.midtrainSeed])).toEqual([
      ['baseline', undefined],
      ['msm', 0],
      ['msm', 2],
      ['placebo', 0],
      ['placebo', 2],
    ]);
    expect(report.controls!.map((c) => c.midtrainSeed)).toEqual([0, 2]);
    const second = report.midtrains![0];
    expect([second.seed, second.corpusDraw, second.corpus.hash, second.midtrain!.outputUri]).toEqual([
      2,
      2,
      'corpus-stub-spec-hash-draw2',
      'file:///tmp/runs/midtrain-m2/final',
    ]);
    expect(second.placebo!.match).toEqual({ targetTokens: 512, placeboTokens: 512, short: 0 });
    expect(report.contamination!.training['corpus draw 2'].checked).toBe(12);
    expect((await handle.query(progressQuery)).midtrains!.map((m) => [m.seed, m.placebo ?? false])).toHaveLength(2);
  });

  it('external arm: its model evaluated as given, once (not per midtraining seed), named in the request and the report', async () => {
    const released = { name: 'released', start: 'external', aft: 'none', model: 'hf:acme/aligned@v1' };
    const aft = { ...experiment().aft, arms: ['baseline', 'msm', released], fractions: [1], seeds: [0] };
    const { handle, calls } = await run('stubbed-external', experiment({ aft, midtrain: { seeds: [0, 1] } }));
    const out = await handle.result();
    const evals = argsOf<EvalRequest>(calls, 'generateSamples').filter((e) => e.label.startsWith('eval-released'));
    expect(evals.map((e) => [e.label, e.modelUri, e.externalModel])).toEqual([
      ['eval-released-s0', null, 'hf:acme/aligned@v1'],
    ]);
    expect(
      argsOf<EvalRequest>(calls, 'generateSamples').some((e) => e.externalModel && !e.label.includes('released')),
    ).toBe(false);
    expect(out.controls.map((c) => c.id)).toEqual(['released-s0']);
    const report = argsOf<ReportRequest>(calls, 'writeReport')[0];
    expect(report.arms!.find((a) => a.name === 'released')).toEqual(released);
    expect(report.controls!.map((c) => [c.arm, c.midtrainSeed])).toEqual([['released', undefined]]);
  });

  it('a cell gives its sweep place back once sampled: the next cell trains while it is judged', async () => {
    const beside: NonNullable<Knobs['judgeBeside']> = {
      judge: 'eval-baseline-1of1-s0',
      training: 'aft-baseline-1of1-s1',
    };
    setKnobs({ judgeBeside: beside });
    try {
      const aft = { ...experiment().aft, arms: ['baseline'], fractions: [1], seeds: [0, 1], concurrency: 1 };
      const { handle } = await run('stubbed-judged-beside', experiment({ aft }));
      await handle.result();
      // Concurrency 1: before, the second cell's training waited for the first cell's judging to end.
      expect(beside).toMatchObject({ started: true, whileJudged: true });
    } finally {
      setKnobs({});
    }
  });

  it('midtrain.seeds with shared draws: one corpus, a midtraining per seed on it', async () => {
    const aft = { ...experiment().aft, arms: ['baseline', 'msm'], fractions: [1], seeds: [0] };
    const input = experiment({ aft, midtrain: { seeds: [0, 1], corpusDraws: 'shared' } });
    const { handle, calls } = await run('stubbed-midtrain-shared', input);
    await handle.result();
    const mid = argsOf<TrainRequest>(calls, 'runTraining').filter((t) => t.kind === 'midtrain');
    expect(mid.map((t) => [t.label, t.data.sha256, t.seed]).sort()).toEqual([
      ['midtrain', 'sha-corpus-stub-spec-hash', 0],
      ['midtrain-m1', 'sha-corpus-stub-spec-hash', 1],
    ]);
    expect(calls.filter((c) => c.name === 'tokenizeCorpus')).toHaveLength(1);
  });

  it('aft.generate.spec: the AFT data child is given that spec, not the midtraining one; the report records it and the tokenizer', async () => {
    const generated = (spec?: string) => {
      const { data: _file, reasoningData: _reasoning, ...aft } = experiment().aft as Record<string, unknown>;
      return experiment({
        aft: {
          ...aft,
          arms: ['baseline', 'msm'],
          seeds: [0],
          fractions: [1],
          generate: { count: 16, ...(spec ? { spec } : {}) },
        },
      });
    };
    const aftKeys = (calls: StubbedEnv['calls']) =>
      calls.filter((c) => c.name === 'tokenizeAftData').map((c) => (c.args[1] as { key: string }).key);

    const own = await run('stubbed-aft-spec-own', generated());
    await own.handle.result();
    // Unset: generated from the experiment's spec, as every run before aft.generate.spec (same hash, same data id).
    expect(aftKeys(own.calls)).toEqual(['aftdata/stub-spec-hash/with-reasoning.jsonl']);
    const ownReport = argsOf<ReportRequest>(own.calls, 'writeReport')[0];
    expect(ownReport.loaded.aftSpec).toEqual({ key: 'inputs/spec-1.md', hash: 'spec-hash', title: 'Demo' });

    const other = await run('stubbed-aft-spec-other', generated('specs/cheese-america.md'));
    const out = await other.handle.result();
    expect(aftKeys(other.calls)).toEqual(['aftdata/stub-aft-spec-hash/with-reasoning.jsonl']);
    // Midtraining still reads the experiment's spec: its corpus is the one keyed by spec-hash.
    expect(out.corpusHash).toBe('corpus-stub-spec-hash');
    const trains = argsOf<TrainRequest>(other.calls, 'runTraining');
    expect(trains.find((t) => t.label === 'aft-msm-1of1-s0')!.data.sha256).toBe(
      'sha-aftdata/stub-aft-spec-hash/with-reasoning.jsonl',
    );
    const report = argsOf<ReportRequest>(other.calls, 'writeReport')[0];
    expect(report.loaded.aftSpec).toEqual({
      key: 'inputs/spec-aft.md',
      hash: 'aft-spec-hash',
      title: 'Cheese',
      path: 'specs/cheese-america.md',
    });
    expect(report.loaded.spec.hash).toBe('spec-hash');
    expect(report.tokens.tokenizer).toEqual({ name: 'llama3.1', sha256: 'tokenizer-sha' });
  });

  it('eval.decontaminate: checked before tokenizing; what the check hands back is what trains; the report gets its summary', async () => {
    setKnobs({ dropContaminated: true });
    try {
      const aft = { ...experiment().aft, arms: ['msm', 'deliberative'], seeds: [0], fractions: [1] };
      const input = experiment({ aft }, { decontaminate: 'drop' });
      const { handle, calls } = await run('stubbed-decontaminate', input);
      const out = await handle.result();
      const check = calls.find((c) => c.name === 'checkContamination')!.args[1] as DecontaminateRequest;
      expect(check.mode).toBe('drop');
      expect(check.evalSet.key).toBe('inputs/eval.jsonl');
      // The given reasoning file is checked with the AFT data: its examples are the same.
      expect(check.aft.data.key).toBe('inputs/aft.jsonl');
      expect(check.aft.withReasoning!.key).toBe('inputs/aft-reasoning.jsonl');
      const order = calls.map((c) => c.name);
      expect(order.indexOf('checkContamination')).toBeLessThan(order.indexOf('tokenizeCorpus'));
      expect((calls.find((c) => c.name === 'tokenizeCorpus')!.args[1] as { hash: string }).hash).toBe('clean-corpus');
      const trains = argsOf<TrainRequest>(calls, 'runTraining');
      expect(trains.find((t) => t.label === 'aft-msm-1of1-s0')!.data.sha256).toBe('sha-inputs/aft.jsonl-clean');
      expect(trains.find((t) => t.label === 'aft-deliberative-1of1-s0')!.data.sha256).toBe(
        'sha-inputs/aft-reasoning.jsonl-clean',
      );
      const report = argsOf<ReportRequest>(calls, 'writeReport')[0];
      expect(report.contamination!.dropped).toEqual({ corpus: 1, aft: 1 });
      expect(report.loaded.aftData!.key).toBe('inputs/aft.jsonl-clean');
      expect(out.corpusHash).toBe('clean-corpus');
    } finally {
      setKnobs({});
    }
  });

  it('compute.budgetUsd: new GPU work waits once spent and goes on when raised; terminate cancels the runs', async () => {
    setKnobs({ trainCostUsd: 1, blockTrainingOf: 'aft-baseline-1of2-s0' });
    try {
      const input = experiment({
        aft: { ...experiment().aft, arms: ['baseline'], seeds: [0], fractions: [1, '1/2'], concurrency: 1 },
        compute: { backend: 'local', device: 'cpu', budgetUsd: 1 },
      });
      const { handle, calls } = await run('stubbed-budget', input);
      // The first AFT run spends the budget: the next one waits.
      await waitFor(async () => (await handle.query(progressQuery)).computeOverBudget === true);
      expect(argsOf<TrainRequest>(calls, 'runTraining').map((t) => t.label)).toEqual(['aft-baseline-1of1-s0']);
      expect(await handle.executeUpdate(setComputeBudgetUpdate, { args: [10] })).toBe(10);
      await waitFor(async () => argsOf(calls, 'runTraining').length === 2);
      expect((await handle.query(progressQuery)).computeOverBudget).toBe(false);
      // Terminate (the Web UI's button) runs no code of the experiment's own, but its running child is
      // cancelled, not terminated: its job stops and its cleanup releases the machines.
      await handle.terminate('a person pressed Terminate');
      const child = env.client.workflow.getHandle('stubbed-budget.aft-baseline-1of2-s0');
      await waitFor(async () => (await child.describe()).status.name !== 'RUNNING');
      expect((await child.describe()).status.name).toBe('CANCELLED');
      await waitFor(async () => calls.some((c) => c.name === 'releaseTrainingMachines'));
      expect(calls.filter((c) => c.name === 'releaseTrainingMachines').map((c) => c.queue)).toEqual(['msm-cleanup']);
    } finally {
      setKnobs({});
    }
  });

  it("a failed evaluation releases its machines on the cleanup queue and fails the experiment with the job's error", async () => {
    setKnobs({ failEvalOf: 'eval-baseline-1of2-s0' });
    try {
      const input = experiment({ aft: { ...experiment().aft, arms: ['baseline'], seeds: [0] } });
      const { handle, calls } = await run('stubbed-failure', input);
      const error = await handle.result().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect(JSON.stringify((error as WorkflowFailedError).cause)).toContain(
        'the sampling job of eval-baseline-1of2-s0 failed',
      );
      const released = calls.filter((c) => c.name === 'releaseEvalMachines');
      expect(released.map((c) => [c.queue, (c.arg as EvalRequest).label])).toEqual([
        ['msm-cleanup', 'eval-baseline-1of2-s0'],
      ]);
      expect(argsOf(calls, 'writeReport')).toEqual([]);
    } finally {
      setKnobs({});
    }
  });
});
