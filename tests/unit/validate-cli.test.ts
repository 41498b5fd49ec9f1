import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { createExperimentActivities } from '../../src/activities/experiment-activities';
import { examplesNeeded, fractionCounts, fractionProblems } from '../../src/config/aft-subsets';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import { demoExperiment } from '../helpers/demo-experiment';
import { runMsm, runMsmInProcess } from '../helpers/msm-cli';

/**
 * `msm validate` runs the checks the workflow's loadExperiment runs (one function): in this process (the CLI's
 * runCli), and once as a real process, through the entry point, argv and exit status.
 */
const env = { MSM_TEST_UNSET_KEY: '' };
const cli = (...args: string[]) => runMsmInProcess(args, env);

const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-validate-'));
const base = demoExperiment('validate-check', path.join(dir, 'store'));
let files = 0;
function experimentFile(over: Record<string, unknown>): string {
  const file = path.join(dir, `x${files++}.yaml`);
  writeFileSync(file, YAML.stringify({ ...base, ...over }));
  return file;
}
function specFile(text: string): string {
  const file = path.join(dir, `spec${files++}.md`);
  writeFileSync(file, text);
  return file;
}
const load = (raw: unknown) =>
  new MockActivityEnvironment().run(createExperimentActivities().loadExperiment, raw).then(
    () => undefined,
    (e: unknown) => e,
  );

describe('msm validate refuses what loadExperiment refuses', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      'a missing spec file',
      { spec: 'specs/nowhere.md' },
      /spec: cannot read .*specs\/nowhere\.md \(ENOENT\); fix the path/,
    ],
    ['an empty spec', { spec: specFile('') }, /spec .*\.md: line \d+: .+/],
    [
      'a spec with no structure',
      { spec: specFile('Be kind. Be honest.\nNo title, no sections, no rules.\n') },
      /spec .*\.md: line \d+: .+/,
    ],
    [
      'an aft.generate.spec that cannot be read',
      { aft: { minSteps: 1, generate: { count: 24, spec: 'specs/nowhere-aft.md' } } },
      /aft\.generate\.spec: cannot read .*specs\/nowhere-aft\.md \(ENOENT\); fix the path/,
    ],
    [
      'an aft.generate.spec that is no spec',
      {
        aft: {
          minSteps: 1,
          generate: { count: 24, spec: specFile('Be kind. Be honest.\nNo title, no sections, no rules.\n') },
        },
      },
      /aft\.generate\.spec .*\.md: line \d+: .+; name a Model Spec in Markdown .*or remove aft\.generate\.spec/,
    ],
    [
      'duplicate seeds',
      { aft: { ...base.aft, seeds: [0, 1, 0] } },
      /aft\.seeds: seed 0 is listed twice: .*list each seed once/,
    ],
    [
      'a fraction under aft.minExamples',
      { aft: { ...base.aft, fractions: ['1/1', '1/4'] } },
      /aft\.fractions: 1\/4 trains on 6 examples of the 24 in experiments\/data\/demo-aft\.jsonl, under aft\.minExamples 16: give more AFT data \(1\/4 needs at least 61 examples\), use larger fractions, or lower aft\.minExamples on purpose/,
    ],
    [
      'colliding fractions',
      { aft: { ...base.aft, fractions: ['1/40', '1/60'], minExamples: 1 } },
      /aft\.fractions: 1\/40 and 1\/60 both train on the same 1 example of 24: they would be the same cell run twice/,
    ],
  ];
  for (const [what, over, message] of cases) {
    it(`${what}: exit 1 with the problem and the fix, and loadExperiment refuses it the same way`, async () => {
      const r = await cli('validate', experimentFile(over));
      expect(r.status, r.stdout).toBe(1);
      expect(r.stderr).toMatch(message);
      const failure = await load({ ...base, ...over });
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect((failure as ApplicationFailure).nonRetryable).toBe(true);
      expect((failure as Error).message).toMatch(message);
    }, 60_000);
  }

  it('lists every problem of the input files at once (as a real process)', () => {
    const r = runMsm(
      [
        'validate',
        experimentFile({
          spec: specFile(''),
          eval: { prompts: 'experiments/data/none.jsonl' },
          aft: { ...base.aft, fractions: [1, 0.1] },
        }),
      ],
      env,
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/- spec .*line \d+/);
    expect(r.stderr).toMatch(/- eval\.prompts: cannot read .*none\.jsonl/);
    expect(r.stderr).toMatch(/- aft\.fractions: 1\/10 trains on 3 examples/);
  }, 60_000);

  it('warns, without refusing, when an API key variable is unset on this machine', async () => {
    const judge = { kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', model: 'judge', apiKeyEnv: 'MSM_TEST_UNSET_KEY' };
    const r = await cli('validate', experimentFile({ eval: { ...base.eval, judge } }));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /^warning: eval\.judge\.apiKeyEnv: MSM_TEST_UNSET_KEY is not set on this machine; export it .* on every worker host/m,
    );
  }, 60_000);

  it('experiments/agentic.yaml: valid, with the AFT examples and optimizer steps per fraction, none under the floors', async () => {
    const r = await cli('validate', path.join(PROJECT_ROOT, 'experiments', 'agentic.yaml'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /AFT examples per fraction \(of the 4800 aft\.generate\.count plans; aft\.minExamples 16, aft\.minSteps 4\): 1\/1 → 4800 \(300 steps\), 1\/4 → 1200 \(75 steps\), 1\/10 → 480 \(30 steps\), 1\/20 → 240 \(15 steps\), 1\/40 → 120 \(8 steps\), 1\/60 → 80 \(5 steps\)/,
    );
    expect(r.stdout).toMatch(/subsets: each seed draws its own/);
    expect(r.stdout).toMatch(
      /^ {2}AFT data: generated from the experiment's spec specs\/self-preservation\.md \(variant full\): 4800 examples, value style$/m,
    );
  }, 60_000);

  it('experiments/demo.json: valid at toy scale because it lowers aft.minExamples and aft.minSteps on purpose', async () => {
    const r = await cli('validate', path.join(PROJECT_ROOT, 'experiments', 'demo.json'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /of the 24 in experiments\/data\/demo-aft\.jsonl; aft\.minExamples 6, aft\.minSteps 3\): 1\/1 → 24 \(4 steps\), 1\/4 → 6 \(3 steps\)/,
    );
  }, 60_000);
});

describe('AFT examples per fraction', () => {
  it('are counted as the trainer counts them: ceil(fraction × examples), at least one', () => {
    expect(fractionCounts(24, [1, 1 / 4, 1 / 40]).map((c) => c.examples)).toEqual([24, 6, 1]);
    expect(fractionCounts(960, [1 / 60]).map((c) => c.examples)).toEqual([16]);
  });

  it('name the fewest examples that lift the smallest fraction to aft.minExamples', () => {
    expect(examplesNeeded(1 / 60, 16)).toBe(901);
    expect(fractionCounts(901, [1 / 60])[0].examples).toBe(16);
    expect(fractionCounts(900, [1 / 60])[0].examples).toBe(15);
    expect(fractionProblems(901, [1, 1 / 60], 16, 'f')).toEqual([]);
    expect(fractionProblems(900, [1, 1 / 60], 16, 'f')).toHaveLength(1);
  });
});
