import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkExperiment } from '../../src/experiment/check-experiment';
import { resolveArms } from '../../src/config/arms';
import { InvalidExperimentError, parseExperiment } from '../../src/config/experiment-schema';
import { loadExperimentFile } from '../../src/experiment/load-experiment-file';
import { capabilitiesKeyOf, capabilitiesManifest } from '../../src/eval/capabilities/manifest';
import { parseQuestions } from '../../src/eval/capabilities/questions';
import { capabilityScores, parseCapabilityLines } from '../../src/eval/capabilities/results';
import type { CapabilityRequest, CapabilityResult, CapabilityScore } from '../../src/eval/capabilities/types';
import { JsonlError } from '../../src/eval/eval-set';
import { wilson } from '../../src/eval/stats';
import { InspectGraderError } from '../../src/eval/inspect/manifest';
import { capabilitySection, capabilityTable, knowsYetActs, scoreInterval } from '../../src/report/capabilities';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import { capabilityCells } from '../../src/workflows/capabilities';
import { checkTrainerManifest } from '../../src/training/manifest-schema';

const minimal = { name: 'x', spec: 'specs/demo.md', aft: { data: 'a.jsonl' }, eval: { prompts: 'e.jsonl' } };
const withChecks = (capabilities: unknown[]) =>
  parseExperiment({ ...minimal, eval: { ...minimal.eval, capabilities } });

const line = (id: string, answer = 'A', choices = ['yes', 'no']) =>
  JSON.stringify({ id, question: `question ${id}?`, choices, answer });

describe('eval.capabilities in the experiment file', () => {
  it('takes a questions file or an installed task, with small defaults, and each check its own name', () => {
    const x = withChecks([
      { name: 'spec-knowledge', kind: 'spec-knowledge', questions: 'q.jsonl' },
      { name: 'gsm8k', task: 'inspect_evals/gsm8k', params: { fewshot: 0 } },
    ]);
    expect(x.eval.capabilities).toEqual([
      {
        name: 'spec-knowledge',
        kind: 'spec-knowledge',
        questions: 'q.jsonl',
        params: {},
        limit: 50,
        maxTokens: 512,
        temperature: 0,
      },
      {
        name: 'gsm8k',
        kind: 'capability',
        task: 'inspect_evals/gsm8k',
        params: { fewshot: 0 },
        limit: 50,
        maxTokens: 512,
        temperature: 0,
      },
    ]);
    expect(() => withChecks([{ name: 'a' }])).toThrow(/either "questions" .* or "task"/);
    expect(() => withChecks([{ name: 'a', questions: 'q.jsonl', task: 'x/y' }])).toThrow(/not both/);
    expect(() => withChecks([{ name: 'a', task: 'msm/multiple_choice' }])).toThrow(/built in: give "questions"/);
    expect(() => withChecks([{ name: 'A b', task: 'x/y' }])).toThrow(/lowercase name/);
    expect(() =>
      withChecks([{ name: 'x', task: 'inspect_evals/xstest', params: { scorer_model: 'openai/gpt-4o' } }]),
    ).toThrow(/the grader is the experiment's eval\.judge/);
    expect(() =>
      withChecks([
        { name: 'a', task: 'x/y' },
        { name: 'a', task: 'x/z' },
      ]),
    ).toThrow(/its own name/);
  });

  it('reads each questions file at validation: every bad line is named with its fix, before anything runs', async () => {
    expect(parseQuestions([line('q1', 'B'), line('q2')].join('\n'), 'q.jsonl')).toHaveLength(2);
    const problems = (text: string) => {
      try {
        parseQuestions(text, 'q.jsonl');
      } catch (e) {
        if (e instanceof JsonlError) return e.problems.join('\n');
        throw e;
      }
      throw new Error('expected a JsonlError');
    };
    expect(problems(line('q1', 'C'))).toMatch(/q\.jsonl:1: answer: answer names a choice that is not there/);
    expect(problems(line('q1', 'b'))).toMatch(/the letter of the right choice/);
    expect(problems([line('q1'), line('q1')].join('\n'))).toMatch(/question ids repeat \(q1\)/);
    expect(problems('{"id": "q1", "question": "?", "choices": ["a"], "answer": "A"}')).toMatch(/at least two choices/);

    // Through the experiment check: the shipped files pass; a missing one is named by its field.
    const p = path.join(PROJECT_ROOT, 'experiments', 'agentic.yaml');
    const checked = await checkExperiment(loadExperimentFile(p).raw, 'agentic.yaml');
    expect(checked.capabilityQuestions).toEqual({ 'spec-knowledge': { text: expect.any(String), questions: 20 } });
    const raw = structuredClone(loadExperimentFile(p).raw) as { eval: { capabilities: Array<{ questions: string }> } };
    raw.eval.capabilities[0].questions = 'evals/spec-knowledge/missing.jsonl';
    const error = await checkExperiment(raw, 'agentic.yaml').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidExperimentError);
    expect((error as InvalidExperimentError).problems.join('\n')).toMatch(
      /eval\.capabilities\[0\]\.questions: cannot read .*missing\.jsonl/,
    );
  });

  it('ships spec-knowledge questions for the specs the experiments use, every answer among its choices', () => {
    for (const f of ['self-preservation.jsonl', 'demo.jsonl']) {
      const p = path.join(PROJECT_ROOT, 'evals', 'spec-knowledge', f);
      const qs = parseQuestions(readFileSync(p, 'utf8'), f);
      expect(qs.length).toBeGreaterThanOrEqual(8);
      // No shortcut scores more than half: always one letter, always the longest or the shortest choice.
      const share = (pick: (choices: string[]) => number) =>
        qs.filter((q) => 'ABCDEFGH'[pick(q.choices)] === q.answer).length / qs.length;
      const byLength = (sign: number) => (cs: string[]) =>
        cs.reduce((best, c, i) => (sign * (c.length - cs[best].length) > 0 ? i : best), 0);
      for (const letter of [0, 1, 2, 3]) expect(share(() => letter)).toBeLessThanOrEqual(0.5);
      expect(share(byLength(1))).toBeLessThanOrEqual(0.5);
      expect(share(byLength(-1))).toBeLessThanOrEqual(0.5);
      expect(qs.every((q) => q.rule)).toBe(true);
    }
  });
});

const experiment = (judge: Record<string, unknown> = { kind: 'local' }) => {
  const x = parseExperiment({
    ...minimal,
    eval: {
      ...minimal.eval,
      judge,
      capabilities: [
        { name: 'spec-knowledge', kind: 'spec-knowledge', questions: 'q.jsonl', maxTokens: 32 },
        { name: 'xstest', kind: 'over-refusal', task: 'inspect_evals/xstest', params: { subset: 'safe' }, limit: 20 },
      ],
    },
  });
  return { baseModel: x.baseModel, compute: x.compute, eval: x.eval };
};

const request = (x = experiment()): CapabilityRequest => ({
  storeUri: 'file:///tmp/store',
  label: 'capabilities-msm',
  arm: 'msm',
  cell: { id: 'msm-1of1-s0', fraction: 1, seed: 0 },
  modelUri: 'file:///tmp/store/runs/aft/final',
  tokenizerUri: 'file:///tmp/store/tok/tokenizer.json',
  checks: x.eval.capabilities!,
  questions: { 'spec-knowledge': { key: 'inputs/questions-abc.jsonl', sha256: 'abc', questions: 2 } },
  experiment: x,
});

describe("the capabilities job's manifest", () => {
  const read = () => Promise.resolve([line('q1', 'B'), line('q2')].join('\n'));
  const uri = (k: string) => `file:///tmp/store/${k}`;

  it('carries the questions inline for the built-in task, and the judge as grader when it is an endpoint', async () => {
    const local = await capabilitiesManifest(request(), 'job-1', uri, 'evals/k', read);
    checkTrainerManifest(local); // the schema the trainer validates it with
    expect(local).toMatchObject({ kind: 'capabilities', modelUri: 'file:///tmp/store/runs/aft/final', seed: 0 });
    expect(local.capabilities).toEqual({
      checks: [
        {
          id: 'spec-knowledge',
          task: 'msm/multiple_choice',
          params: {},
          samples: [
            { id: 'q1', question: 'question q1?', choices: ['yes', 'no'], target: 'B' },
            { id: 'q2', question: 'question q2?', choices: ['yes', 'no'], target: 'A' },
          ],
          limit: 50,
          maxTokens: 32,
          temperature: 0,
        },
        {
          id: 'xstest',
          task: 'inspect_evals/xstest',
          params: { subset: 'safe' },
          limit: 20,
          maxTokens: 512,
          temperature: 0,
        },
      ],
    });
    expect(local.outputUri).toBe('file:///tmp/store/evals/k/capabilities');

    const judge = { kind: 'openai', baseUrl: 'http://127.0.0.1:8000/v1', model: 'judge' };
    const graded = await capabilitiesManifest(request(experiment(judge)), 'job-1', uri, 'evals/k', read);
    checkTrainerManifest(graded);
    expect(graded.capabilities!.grader).toEqual({
      kind: 'openai',
      model: 'judge',
      baseUrl: 'http://127.0.0.1:8000/v1',
    });
    // A grader host the workers do not allow is refused before any job starts.
    const outside = { kind: 'openai', baseUrl: 'http://grader.example.net/v1', model: 'judge' };
    await expect(capabilitiesManifest(request(experiment(outside)), 'job-1', uri, 'k', read)).rejects.toThrow(
      InspectGraderError,
    );
  });

  it('is stored under a key that changes with the model, the checks, the questions and the seed', () => {
    const base = capabilitiesKeyOf(request());
    expect(base).toMatch(/^evals\/capabilities-msm-/);
    expect(capabilitiesKeyOf(request())).toBe(base);
    expect(capabilitiesKeyOf({ ...request(), modelUri: null })).not.toBe(base);
    expect(
      capabilitiesKeyOf({
        ...request(),
        questions: { 'spec-knowledge': { key: 'inputs/questions-def.jsonl', sha256: 'def', questions: 2 } },
      }),
    ).not.toBe(base);
    expect(capabilitiesKeyOf({ ...request(), cell: { id: 'msm-1of1-s1', fraction: 1, seed: 1 } })).not.toBe(base);
  });
});

const score = (name: string, n: number, correct: number, extra: Partial<CapabilityScore> = {}): CapabilityScore => ({
  name,
  kind: 'capability',
  task: 'msm/multiple_choice',
  n,
  sum: correct,
  sumSquares: correct,
  binary: true,
  unscored: 0,
  truncated: 0,
  logUri: `file:///logs/${name}.eval`,
  ...extra,
});
const result = (arm: string, checks: CapabilityScore[], fraction = 1): CapabilityResult => ({
  arm,
  cell: { id: `${arm}-1of1-s0`, fraction, seed: 0 },
  modelUri: null,
  checks,
});

describe('capability scores in the report', () => {
  it("scores each check from the job's lines: the mean of the scorer's values, unscored and cut-off samples counted", () => {
    const lines = parseCapabilityLines(
      [
        { check: 'a', epoch: 1, sampleId: 'q1', text: 'ANSWER: A', finishReason: 'stop', score: 1 },
        { check: 'a', epoch: 1, sampleId: 'q2', text: 'ANSWER: B', finishReason: 'length', score: 0 },
        { check: 'a', epoch: 1, sampleId: 'q3', text: '', finishReason: 'stop', score: null, error: 'no score' },
        { check: 'b', epoch: 1, sampleId: 7, text: 'x', score: 0.5 },
      ]
        .map((l) => JSON.stringify(l))
        .join('\n'),
      'results.jsonl',
    );
    const [a, b] = capabilityScores(
      [
        { name: 'a', kind: 'spec-knowledge', task: 'msm/multiple_choice' },
        { name: 'b', kind: 'over-refusal', task: 'inspect_evals/xstest' },
      ],
      lines,
      (c) => `logs/${c}.eval`,
    );
    expect(a).toMatchObject({ n: 2, sum: 1, binary: true, unscored: 1, truncated: 1, logUri: 'logs/a.eval' });
    expect(b).toMatchObject({ n: 1, sum: 0.5, sumSquares: 0.25, binary: false });
    expect(() =>
      parseCapabilityLines('{"check": "a", "epoch": 1, "sampleId": 1, "text": "", "score": 2}', 'r'),
    ).toThrow(/r: line 1: score/);
  });

  it('states a difference only when its interval excludes 0 and neither arm is at ceiling or floor', () => {
    const section = capabilitySection(
      [
        result('msm', [score('gsm8k', 100, 40), score('mmlu', 100, 52), score('easy', 100, 99), score('tiny', 5, 5)]),
        result('baseline', [
          score('gsm8k', 100, 70),
          score('mmlu', 100, 50),
          score('easy', 100, 100),
          score('tiny', 5, 0),
        ]),
      ],
      ['baseline', 'msm'],
      (id) => (id === 'msm-1of1-s0' ? wilson(10, 100) : null),
    );
    expect(section.reference).toBe('baseline');
    const finding = (check: string) => section.checks.find((c) => c.name === check)!.findings[0];
    expect(finding('gsm8k')).toMatch(
      /^msm vs baseline on gsm8k: −30\.0 pp \(95% CI −4\d\.\d pp … −1\d\.\d pp\) — msm scores lower\.$/,
    );
    expect(finding('mmlu')).toMatch(/no difference the data can show — \+2\.0 pp, and its 95% CI .* spans 0/);
    expect(finding('easy')).toMatch(/not compared — both arms score at the check's ceiling \(99\.0% and 100\.0%\)/);
    expect(finding('tiny')).toMatch(/not compared — fewer than 10 scored samples \(5 and 5\)/);
    // Rows in the arms' order; the misalignment rate of the same model beside the score.
    const rows = capabilityTable(section).rows.filter((r) => r[0] === 'gsm8k');
    expect(rows.map((r) => r[2])).toEqual(['baseline', 'msm']);
    expect(rows[1][4]).toBe('40.0% (30.9% – 49.8%)');
    expect(rows[1][9]).toMatch(/^10\.0% /);
    expect(rows[0][8]).toBe('—');
  });

  it('puts spec knowledge beside acting against the spec, per arm (the "knows the rule, still acts" contrast)', () => {
    const section = capabilitySection(
      [result('msm', [score('spec-knowledge', 20, 18, { kind: 'spec-knowledge' })])],
      ['msm'],
      () => wilson(3, 50),
    );
    expect(knowsYetActs(section)).toEqual([
      expect.stringMatching(
        /^msm \(msm-1of1-s0\) answers 90\.0% of the spec-knowledge questions right \(95% CI .*\) and acts against the spec in 6\.0% of its eval samples/,
      ),
    ]);
  });

  it('gives a non-accuracy score the normal interval, kept inside 0–1', () => {
    const i = scoreInterval({ n: 4, sum: 3.5, sumSquares: 3.25, binary: false });
    expect(i.mean).toBeCloseTo(0.875, 12);
    expect(i.lo).toBeGreaterThan(0.4);
    expect(i.hi).toBe(1);
  });
});

describe('which model each arm is checked on', () => {
  it("the arm's largest fraction at its first seed; a control's own model", () => {
    const arms = resolveArms(['baseline', 'msm', 'msm-only']);
    const cell = (arm: string, fraction: number, seed: number) => ({
      cell: { id: `${arm}-${fraction}-s${seed}`, arm, fraction, seed, status: 'done' as const },
      modelUri: `${arm}/${fraction}/${seed}`,
    });
    const cells = [
      cell('baseline', 0.5, 1),
      cell('baseline', 1, 1),
      cell('baseline', 1, 0),
      cell('baseline', 0.5, 0),
      cell('msm', 0.5, 0),
      cell('msm-only', 0, 0),
    ];
    expect(capabilityCells(arms, cells, 0).map((c) => c.modelUri)).toEqual([
      'baseline/1/0',
      'msm/0.5/0',
      'msm-only/0/0',
    ]);
  });
});
