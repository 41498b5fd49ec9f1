import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildComparison, comparisonTable, renderComparisonMarkdown } from '../../src/report/compare';
import { buildResults, type ReportInput } from '../../src/report/results';
import { calibrationResult } from '../helpers/calibration';
import { runMsmInProcess } from '../helpers/msm-cli';

/** One experiment of a spec-science sweep: k of 100 per arm and fraction, one seed. */
function experiment(
  name: string,
  variant: string,
  rates: Record<'baseline' | 'msm', Record<number, number>>,
): ReportInput {
  const cells = (['baseline', 'msm'] as const).flatMap((arm) =>
    Object.entries(rates[arm]).map(([fraction, k]) => ({
      arm,
      fraction: Number(fraction),
      seed: 0,
      trainFinalLoss: 1,
      modelUri: `file:///runs/${name}-${arm}-${fraction}`,
      eval: { k, n: 100, samplesUri: `file:///evals/${name}-${arm}-${fraction}`, judgeModel: 'judge' },
    })),
  );
  return {
    experiment: {
      name,
      workflowId: `wf-${name}`,
      specTitle: 'Self-preservation',
      specHash: `${variant}-hash-0123456789`,
      specVariant: variant,
      baseModel: 'tiny',
      corpus: {
        documents: 1,
        tokens: 1,
        hash: `${name}-corpus`,
        truncated: 0,
        truncatedDropped: 0,
        duplicatesRemoved: 0,
        documentCostUsd: 0,
      },
      evalSet: { sha256: 'e', prompts: 10 },
    },
    cells,
    generatedAt: '2026-11-23T00:00:00Z',
    calibration: calibrationResult(['leaking']),
  } as ReportInput;
}

const baseline = { 1: 20, 0.25: 40, 0.1: 50 };
const rulesOnly = buildResults(experiment('rules-only', 'rules', { baseline, msm: { 1: 15, 0.25: 30, 0.1: 45 } }));
const withValues = buildResults(
  experiment('rules-values', 'rules+values', { baseline, msm: { 1: 5, 0.25: 10, 0.1: 20 } }),
);

describe('spec-science comparison across experiments', () => {
  it('lines up full-data rates, differences at shared fractions and data efficiency per variant', () => {
    const c = buildComparison([rulesOnly, withValues]);
    expect(c.fractions).toEqual([1, 0.25, 0.1]);
    const [a, b] = c.experiments;
    expect(a.fullData.baseline!.rate).toBeCloseTo(0.2, 12);
    expect(a.fullData.msm!.rate).toBeCloseTo(0.15, 12);
    expect(b.fullData.msm!.rate).toBeCloseTo(0.05, 12);
    expect(a.differences.map((d) => d!.estimate)).toEqual([
      expect.closeTo(-0.05, 12),
      expect.closeTo(-0.1, 12),
      expect.closeTo(-0.05, 12),
    ]);
    expect(b.differences.map((d) => d!.estimate)).toEqual([
      expect.closeTo(-0.15, 12),
      expect.closeTo(-0.3, 12),
      expect.closeTo(-0.3, 12),
    ]);
    // rules+values is within 2 points of the baseline's 20% already at 1/10: a lower bound of 10x;
    // rules-only only at 1/1 (15%), above at 1/4 (30%): a factor of 1x.
    expect(b.dataEfficiency.estimate).toMatchObject({ status: 'lower-bound', factor: 10 });
    expect(a.dataEfficiency.estimate).toMatchObject({ status: 'reached', factor: 1 });
    const t = comparisonTable(c);
    expect(t.headers).toContain('msm − baseline at 1/4');
    expect(t.rows[1][1]).toContain('(rules+values)');
    // 100 samples a cell cannot show msm at 1/10 within 2 points of the full-data baseline by its interval.
    expect(t.rows[1].at(-1)).toMatch(/^withheld, not a finding: ≥ 10\.0×.*not within the margin of \+2\.0 pp/);
  });

  it('refuses what cannot be compared, in plain words', () => {
    expect(() => buildComparison([rulesOnly])).toThrow(/at least two/);
    expect(() => buildComparison([rulesOnly, { ...withValues, metric: 'something else' }])).toThrow(
      /measure different things/,
    );
  });

  it('refuses runs measured differently (eval set, its settings, judge, base model), naming each side', () => {
    const other = (over: (r: typeof withValues) => void) => {
      const r = structuredClone(withValues);
      over(r);
      return r;
    };
    const cases: Array<[(r: typeof withValues) => void, RegExp]> = [
      [(r) => (r.lineage.evalSet = { sha256: 'f', prompts: 10 }), /eval set differs: rules-only: e; rules-values: f/],
      [
        (r) => (r.lineage.judgeModels = ['another-judge']),
        /judge differs: rules-only: judge; rules-values: another-judge/,
      ],
      [(r) => (r.lineage.baseModel = 'bigger'), /base model differs: rules-only: tiny; rules-values: bigger/],
      [
        (r) => (r.lineage.evalSettings = { thinking: 'on' }),
        /eval settings differs: .*rules-values: \{"thinking":"on"\}/,
      ],
    ];
    for (const [change, message] of cases) {
      const error = (() => {
        try {
          buildComparison([rulesOnly, other(change)]);
        } catch (e) {
          return e as Error;
        }
      })();
      expect(error?.message).toMatch(message);
      expect(error?.message).toMatch(/not measured the same way.*\n.*\ncompare runs of one eval set/s);
    }
  });

  it('refuses runs tokenized differently, naming each tokenizer; runs that did not record one are compared as before', () => {
    const withTokenizer = (r: typeof withValues, name: string, sha: string) => {
      const c = structuredClone(r);
      c.lineage.tokenizer = { name, sha256: sha };
      return c;
    };
    const a = withTokenizer(rulesOnly, 'llama3.1', 'a'.repeat(64));
    expect(() => buildComparison([a, withTokenizer(withValues, 'qwen3', 'b'.repeat(64))])).toThrow(
      /not measured the same way.*tokenizer differs: rules-only: llama3\.1 \(sha256 a{16}\); rules-values: qwen3 \(sha256 b{16}\).*compare runs of one eval set, eval settings, judge, base model and tokenizer/s,
    );
    // The same files in another folder are the same tokenizer: compared by content, not by name.
    expect(buildComparison([a, withTokenizer(withValues, 'model:copy', 'a'.repeat(64))]).experiments).toHaveLength(2);
    // An older results.json has no tokenizer: nothing to check it against, as before.
    expect(buildComparison([a, withValues]).experiments).toHaveLength(2);
    expect(buildComparison([rulesOnly, withValues]).experiments).toHaveLength(2);
  });

  it('says which spec the AFT data came from when it is not the midtraining spec (the MSM spec × AFT spec design)', () => {
    const c = structuredClone(withValues);
    c.lineage.aftSpec = { title: 'Cheese', hash: 'cheese-hash-0123456789', key: 'inputs/spec-c.md', path: 'c.md' };
    const own = structuredClone(rulesOnly);
    own.lineage.aftSpec = { title: own.lineage.spec.title, hash: own.lineage.spec.hash, key: 'inputs/spec-s.md' };
    const rows = comparisonTable(buildComparison([own, c])).rows;
    expect(rows[0][1]).not.toContain('AFT data from');
    expect(rows[1][1]).toMatch(/; AFT data from "Cheese" cheese-hash-$/);
  });

  it("states each arm's rate difference between two spec variants with a prompt- and seed-clustered interval", () => {
    // 20 prompts × 10 samples × 2 seeds: msm 10% after rules + values, 40% after rules only; baseline equal.
    const withPrompts = (name: string, variant: string, msmK: number, baselineK: number) => {
      const input = experiment(name, variant, { baseline: { 1: 0 }, msm: { 1: 0 } });
      input.cells = (['baseline', 'msm'] as const).flatMap((arm) =>
        [0, 1].map((seed) => {
          const k = arm === 'msm' ? msmK : baselineK;
          const prompts = Array.from({ length: 20 }, (_, i) => ({
            prompt: `p${i}`,
            condition: `p${i}`,
            k: i < k ? 10 : 0,
            n: 10,
          }));
          return {
            arm,
            fraction: 1,
            seed,
            trainFinalLoss: 1,
            modelUri: `file:///runs/${name}-${arm}-${seed}`,
            eval: { k: 10 * k, n: 200, samplesUri: `file:///evals/${name}-${arm}-${seed}`, judgeModel: 'judge' },
            prompts,
          };
        }),
      );
      return buildResults(input);
    };
    const rules = withPrompts('rules-only', 'rules', 8, 6);
    const values = withPrompts('rules-values', 'rules+values', 2, 6);
    const c = buildComparison([rules, values]);
    const msm = c.rateContrasts!.find((x) => x.arm === 'msm')!;
    expect(msm).toMatchObject({ first: 'rules-only', second: 'rules-values', fraction: 1 });
    expect(msm.firstRate).toBeCloseTo(0.4, 12);
    expect(msm.secondRate).toBeCloseTo(0.1, 12);
    expect(msm.difference!.estimate).toBeCloseTo(0.3, 12);
    // Prompts are the clusters: 20 of them, each all-or-nothing, make a wide interval that still excludes 0.
    expect(msm.difference!.lo).toBeGreaterThan(0);
    expect(msm.difference!.hi - msm.difference!.lo).toBeGreaterThan(0.2);
    expect(msm.withheld).toBeUndefined();
    // The baseline arm never saw either spec: no difference, withheld because its interval includes 0.
    const base = c.rateContrasts!.find((x) => x.arm === 'baseline')!;
    expect(base.difference!.estimate).toBe(0);
    expect(base.withheld!.reason).toMatch(/includes 0/);
    const md = renderComparisonMarkdown(c);
    expect(md).toContain('## Headline rate: difference between the runs');
    expect(md).toMatch(
      /- msm at 1\/1, headline rate: rules-only − rules-values = \+30\.0 pp \(95% CI \+[\d.]+ pp … \+[\d.]+ pp\)/,
    );
    expect(md).toMatch(/- withheld, not a finding: baseline at 1\/1, .*includes 0/);
    // Two rates at the floor say why nothing can be read from them.
    const floor = buildComparison([withPrompts('a', 'rules', 0, 0), withPrompts('b', 'rules+values', 0, 0)]);
    expect(floor.rateContrasts!.find((x) => x.arm === 'msm')!.withheld!.reason).toMatch(/both rates are 0/);
  });

  it('msm compare writes comparison.json, .md and .html from report folders', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-compare-'));
    for (const r of [rulesOnly, withValues]) {
      const d = path.join(dir, r.experiment.name);
      mkdirSync(d, { recursive: true });
      writeFileSync(path.join(d, 'results.json'), JSON.stringify(r));
    }
    const r = await runMsmInProcess([
      'compare',
      path.join(dir, 'out'),
      path.join(dir, 'rules-only'),
      path.join(dir, 'rules-values', 'results.json'),
    ]);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    // Each arm's rate contrast first (these fixtures keep no split by prompt: withheld, saying so), then the files.
    expect(lines.slice(0, 2)).toEqual([
      expect.stringMatching(/^withheld, not a finding: baseline at 1\/1, .*no split by prompt to resample/),
      expect.stringMatching(/^withheld, not a finding: msm at 1\/1, /),
    ]);
    expect(lines.slice(2).map((l) => path.basename(l))).toEqual([
      'comparison.json',
      'comparison.md',
      'comparison.html',
    ]);
    expect(readFileSync(path.join(dir, 'out', 'comparison.md'), 'utf8')).toContain('| rules-values |');
    const bad = await runMsmInProcess([
      'compare',
      path.join(dir, 'out'),
      path.join(dir, 'nowhere'),
      path.join(dir, 'rules-only'),
    ]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/nowhere: no results\.json there/);
  });
});
