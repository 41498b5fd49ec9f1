import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HumanLabelsImport } from '../../src/eval/human-labels';
import type { ReportRequest } from '../../src/report/types';
import { MSM_STAGE } from '../../src/temporal/search-attribute-keys';
import { humanLabelsImport, msmExperiment, reportRun } from '../../src/workflows';
import { argsOf, failureText, namesOf, startStubbedEnv, type StubbedEnv } from '../helpers/stubbed-workflows';
import { EXPERIMENT_NAMES, experimentStubs, smallExperiment } from './stub-experiment';

/**
 * reportRun and humanLabelsImport on a real Temporal server with stubbed activities: the judge calibrated
 * first (with the claims' bar when the experiment sets one), no calibration without a judge, an Inspect
 * task's grader calibrated on the GPU queue (or not, when no set applies), the labels import. The request
 * is the one msmExperiment builds (one stubbed experiment run in beforeAll). What the report says with a
 * calibration is report-calibration.test.ts's.
 */
const calibration = { judgeModel: 'stub-judge', kinds: [], parsedByCode: false };
const grader = { judgeModel: 'inspect-grader', kinds: [], parsedByCode: false };

describe('reportRun with stubbed activities (real Temporal server)', () => {
  let env: StubbedEnv;
  let request: ReportRequest;
  let inspectCalibration: typeof grader | null = grader;

  beforeAll(async () => {
    const stubs = experimentStubs();
    env = await startStubbedEnv(
      {
        ...stubs,
        'msm-llm': { ...stubs['msm-llm'], calibrateJudge: async () => calibration },
        'msm-gpu': { ...stubs['msm-gpu'], calibrateInspectGrader: async () => inspectCalibration },
        'msm-cpu': {
          ...stubs['msm-cpu'],
          importHumanLabels: async (req: HumanLabelsImport) => {
            if (req.labels.some((l) => !l.sample.includes('/')))
              throw ApplicationFailure.nonRetryable(`label 1: no sample ${req.labels[0].sample}`, 'BadInput');
            return { ...(await stubs['msm-cpu'].writeReport(request)), labels: req.labels.length };
          },
        },
      },
      EXPERIMENT_NAMES,
    );
    // The report's request as the experiment makes it (the stub saw it with the calibration added).
    await (await env.start(msmExperiment, 'report-source', smallExperiment())).result();
    const { calibration: _c, ...req } = argsOf<ReportRequest>(env.calls, 'writeReport')[0];
    request = req as ReportRequest;
  });
  afterAll(async () => env?.close());

  it("with a judge: calibrated first (LLM queue) against the claims' bar; the report is written with the calibration", async () => {
    expect(request.judge).toBeDefined();
    const req = { ...request, claims: { ...request.claims, maxFalsePositiveRate: 0.05, maxFalseNegativeRate: 0.1 } };
    const h = await env.start(reportRun, 'report-calibrated', req);
    expect(await h.result()).toMatchObject({ resultsUri: 'file:///tmp/report/report-source/results.json' });
    expect(env.calls.map((c) => [c.queue, c.name])).toEqual([
      ['msm-llm', 'calibrateJudge'],
      ['msm-cpu', 'writeReport'],
    ]);
    expect(env.calls[0].arg).toEqual({
      storeUri: req.storeUri,
      evalSet: req.loaded.evalSet,
      judge: req.judge,
      judgeAttempts: req.judgeAttempts,
      bar: { maxFalsePositiveRate: 0.05, maxFalseNegativeRate: 0.1 },
    });
    expect(env.calls[1].arg).toEqual({ ...req, calibration });
    expect((await h.describe()).typedSearchAttributes.get(MSM_STAGE)).toBe('report');
  });

  it('a bar with one rate only is no bar: the calibration uses its default', async () => {
    const req = {
      ...request,
      claims: { ...request.claims, maxFalsePositiveRate: 0.05, maxFalseNegativeRate: undefined },
    };
    await (await env.start(reportRun, 'report-half-bar', req)).result();
    expect(argsOf<object>(env.calls, 'calibrateJudge')[0]).not.toHaveProperty('bar');
  });

  it('without a judge: nothing is calibrated, the report is written from the request as it is', async () => {
    const { judge: _j, ...req } = request;
    await (await env.start(reportRun, 'report-no-judge', req as ReportRequest)).result();
    expect(namesOf(env.calls)).toEqual(['writeReport']);
    expect(env.calls[0].arg).toEqual(req);
  });

  it("an Inspect task: its grader is calibrated on the GPU queue, never msm's judge sets; no set for it: no calibration", async () => {
    const req = {
      ...request,
      evalSettings: { ...request.evalSettings, inspectTask: 'inspect_evals/agentic_misalignment' },
    };
    inspectCalibration = grader;
    await (await env.start(reportRun, 'report-inspect', req)).result();
    expect(env.calls.map((c) => [c.queue, c.name])).toEqual([
      ['msm-gpu', 'calibrateInspectGrader'],
      ['msm-cpu', 'writeReport'],
    ]);
    expect(env.calls[0].arg).toEqual({
      storeUri: req.storeUri,
      evalSet: req.loaded.evalSet,
      task: 'inspect_evals/agentic_misalignment',
      judge: req.judge,
    });
    expect(env.calls[1].arg).toEqual({ ...req, calibration: grader });

    inspectCalibration = null;
    await (await env.start(reportRun, 'report-inspect-uncalibrated', req)).result();
    expect(env.calls[1].arg).toEqual(req);
  });

  it("humanLabelsImport: the labels go to the CPU activity once; bad labels fail the run with the activity's message", async () => {
    const labels = {
      storeUri: request.storeUri,
      workflowId: 'report-source',
      labels: [{ sample: 'baseline-1of1-s0/p1/0', shows: true }],
    };
    const out = await (await env.start(humanLabelsImport, 'labels-ok', labels)).result();
    expect(out.labels).toBe(1);
    expect(env.calls.map((c) => [c.queue, c.name, c.arg])).toEqual([['msm-cpu', 'importHumanLabels', labels]]);

    const bad = { ...labels, labels: [{ sample: 'no-such-sample', shows: false }] };
    const err = await (await env.start(humanLabelsImport, 'labels-bad', bad)).result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(failureText(err)).toMatch(/label 1: no sample no-such-sample/);
    expect(env.calls).toHaveLength(1); // bad input: not retried
  });
});
