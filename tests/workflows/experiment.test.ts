import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExperiment, type ExperimentInput } from '../../src/config/experiment-schema';
import type { CapabilityRequest, CapabilityResult } from '../../src/eval/capabilities/types';
import type { EvalRequest, EvalSummary, SamplesRef } from '../../src/eval/types';
import type { ReportRequest, ReportResult } from '../../src/report/types';
import type { LoadedExperiment } from '../../src/config/loaded-experiment';
import type { TokenizedRef } from '../../src/tokenize/types';
import type { TrainRequest, TrainResult } from '../../src/training/types';
import { msmExperiment, progressQuery, setComputeBudgetUpdate } from '../../src/workflows';
import { startStubbedEnv, type StubbedEnv } from '../helpers/stubbed-workflows';

/**
 * msmExperiment's branches on a real Temporal server with every activity stubbed (and the data-generating
 * children replaced): which runs it starts, on which models it evaluates and checks, what the report is
 * given, how budget and failure change its course. Seconds per case; the real trainer and model are
 * covered by the end-to-end tests.
 */
const ALL_ARMS = ['base', 'msm-only', 'baseline', 'msm', 'deliberative', 'spec-in-context'];

function experiment(over: Record<string, unknown> = {}, evalOver: Record<string, unknown> = {}): ExperimentInput {
  return {
    name: 'stubbed',
    spec: 'specs/demo.md',
    store: 'file:///tmp/msm-stubbed-store',
    baseModel: { tokenizer: 'llama3.1', hiddenSize: 32, numLayers: 1, numHeads: 2, intermediateSize: 64 },
    aft: {
      data: 'experiments/data/demo-aft.jsonl',
      reasoningData: 'experiments/data/demo-aft.jsonl',
      fractions: [1, '1/2'],
      seeds: [0, 1],
      minExamples: 1,
      minSteps: 1,
      arms: ALL_ARMS,
    },
    eval: { prompts: 'experiments/data/demo-eval.jsonl', ...evalOver },
    compute: { backend: 'local', device: 'cpu' },
    ...over,
  } as ExperimentInput;
}

const ref = (name: string): TokenizedRef => ({
  manifestUri: `file:///tmp/tok/${name}/manifest.json`,
  sha256: `sha-${name}`,
  numSequences: 8,
  numTokens: 512,
  tokenizerUri: 'file:///tmp/tok/tokenizer.json',
  vocabSize: 128,
});

const usage = (costUsd: number) => ({
  machines: 1,
  machineHours: 0.1,
  gpuHours: 0.1,
  costUsd,
  preemptions: 0,
  gpuHoursLost: 0,
  machineHoursLost: 0,
});

interface Knobs {
  trainCostUsd?: number;
  failEvalOf?: string;
  /** This training run heartbeats until it is cancelled. */
  blockTrainingOf?: string;
}

/** A running job: heartbeats until the activity is cancelled, then ends cancelled. */
async function untilCancelled(): Promise<never> {
  const { Context } = await import('@temporalio/activity');
  const ctx = Context.current();
  for (;;) {
    ctx.heartbeat();
    await Promise.race([ctx.cancelled, new Promise((r) => setTimeout(r, 200))]);
  }
}

/** Stubs that answer like the real activities, small: every run, evaluation and check is recorded. */
function stubs(knobs: Knobs = {}) {
  const fileRef = (key: string) => ({ key, sha256: `sha-${key}`, examples: 24 });
  const trained = (req: TrainRequest): TrainResult => ({
    outputUri: `file:///tmp/runs/${req.label}/final`,
    runKey: `runs/${req.label}`,
    metrics: { final_loss: 1.5, steps: 4 },
    resumedFromStep: null,
    preemptions: 0,
    ...(knobs.trainCostUsd !== undefined && { compute: usage(knobs.trainCostUsd) }),
  });
  return {
    'msm-cpu': {
      loadExperiment: async (raw: ExperimentInput): Promise<LoadedExperiment> => {
        const x = parseExperiment(raw);
        return {
          experiment: x,
          storeUri: x.store,
          spec: { key: 'inputs/spec-1.md', hash: 'spec-hash', title: 'Demo', variant: 'full', sections: 2, rules: 6 },
          aftData: fileRef('inputs/aft.jsonl'),
          reasoningData: fileRef('inputs/aft-reasoning.jsonl'),
          evalSet: { key: 'inputs/eval.jsonl', sha256: 'eval-sha', prompts: 8 },
          ...(x.aft.mix && { mixData: fileRef('inputs/mix.jsonl') }),
          ...(x.eval.capabilities && {
            capabilityQuestions: { 'spec-knowledge': { key: 'inputs/questions.jsonl', sha256: 'q-sha', questions: 8 } },
          }),
        };
      },
      tokenizeCorpus: async () => ref('corpus'),
      tokenizeAftData: async (_store: string, file: { key: string }) => ref(file.key),
      writeReport: async (req: ReportRequest): Promise<ReportResult> => ({
        resultsUri: `file:///tmp/report/${req.cells.length}/results.json`,
        htmlUri: 'file:///tmp/report/report.html',
        htmlPath: '/tmp/report/report.html',
      }),
    },
    'msm-llm': {
      judgeSamples: async (req: EvalRequest, samples: SamplesRef): Promise<EvalSummary> => ({
        k: 1,
        n: 8,
        samplesUri: samples.samplesUri,
        judgmentsPrefix: `file:///tmp/judgments/${req.label}`,
        judgeModel: 'stub-judge',
      }),
      calibrateJudge: async () => ({ judgeModel: 'stub-judge', kinds: [], parsedByCode: false }),
    },
    'msm-gpu': {
      runTraining: async (req: TrainRequest): Promise<TrainResult> =>
        req.label === knobs.blockTrainingOf ? untilCancelled() : trained(req),

      generateSamples: async (req: EvalRequest): Promise<SamplesRef> => {
        if (req.label === knobs.failEvalOf) {
          const { ApplicationFailure } = await import('@temporalio/common');
          throw ApplicationFailure.nonRetryable(`the sampling job of ${req.label} failed`, 'BadInput');
        }
        return {
          evalKey: `evals/${req.label}`,
          samplesKey: 'k',
          samplesUri: `file:///tmp/samples/${req.label}`,
          samples: 8,
        };
      },
      runCapabilityChecks: async (req: CapabilityRequest): Promise<CapabilityResult> => ({
        arm: req.arm,
        cell: req.cell,
        modelUri: req.modelUri,
        checks: req.checks.map((c) => ({
          name: c.name,
          kind: c.kind,
          task: c.task ?? 'msm/multiple_choice',
          n: 8,
          sum: 6,
          sumSquares: 6,
          binary: true,
          unscored: 0,
          truncated: 0,
          logUri: `file:///tmp/logs/${req.arm}/${c.name}.eval`,
        })),
      }),
    },
    'msm-cleanup': {
      releaseEvalMachines: async () => 0,
      releaseTrainingMachines: async () => 0,
      releaseCapabilityMachines: async () => 0,
    },
  };
}

describe('msmExperiment with stubbed activities (real Temporal server)', () => {
  let env: StubbedEnv;
  let knobs: Knobs = {};
  beforeAll(async () => {
    const s = stubs();
    // Each call reads the knobs of the case that runs now.
    const live = {
      ...s,
      'msm-gpu': {
        ...s['msm-gpu'],
        runTraining: (req: TrainRequest) => stubs(knobs)['msm-gpu'].runTraining(req),
        generateSamples: (req: EvalRequest) => stubs(knobs)['msm-gpu'].generateSamples(req),
      },
    };
    env = await startStubbedEnv(live, { 'msm-gpu': ['runInspectEval', 'releaseEvalMachines'] });
  });
  afterAll(async () => env?.close());

  const run = async (id: string, input: ExperimentInput) => {
    env.calls.length = 0;
    const handle = await env.client.workflow.start(msmExperiment, { taskQueue: 'msm', workflowId: id, args: [input] });
    return { handle, calls: env.calls };
  };
  const argsOf = <T>(calls: StubbedEnv['calls'], name: string) =>
    calls.filter((c) => c.name === name).map((c) => c.arg as T);

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

  it('compute.budgetUsd: new GPU work waits once spent and goes on when raised; terminate cancels the runs', async () => {
    knobs = { trainCostUsd: 1, blockTrainingOf: 'aft-baseline-1of2-s0' };
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
      knobs = {};
    }
  });

  it("a failed evaluation releases its machines on the cleanup queue and fails the experiment with the job's error", async () => {
    knobs = { failEvalOf: 'eval-baseline-1of2-s0' };
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
      knobs = {};
    }
  });
});

async function waitFor(pred: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}
