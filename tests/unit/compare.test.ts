import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildComparison, comparisonTable } from '../../src/report/compare';
import { buildResults, type ReportInput } from '../../src/report/results';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import { calibrationResult } from '../helpers/calibration';

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

  it('msm compare writes comparison.json, .md and .html from report folders', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-compare-'));
    for (const r of [rulesOnly, withValues]) {
      const d = path.join(dir, r.experiment.name);
      mkdirSync(d, { recursive: true });
      writeFileSync(path.join(d, 'results.json'), JSON.stringify(r));
    }
    const out = execFileSync(
      path.join(PROJECT_ROOT, 'bin', 'msm'),
      ['compare', path.join(dir, 'out'), path.join(dir, 'rules-only'), path.join(dir, 'rules-values', 'results.json')],
      { encoding: 'utf8' },
    );
    expect(
      out
        .trim()
        .split('\n')
        .map((l) => path.basename(l)),
    ).toEqual(['comparison.json', 'comparison.md', 'comparison.html']);
    expect(readFileSync(path.join(dir, 'out', 'comparison.md'), 'utf8')).toContain('| rules-values |');
    const bad = (() => {
      try {
        execFileSync(
          path.join(PROJECT_ROOT, 'bin', 'msm'),
          ['compare', path.join(dir, 'out'), path.join(dir, 'nowhere'), path.join(dir, 'rules-only')],
          { encoding: 'utf8', stdio: 'pipe' },
        );
        return '';
      } catch (e) {
        return String((e as { stderr: string }).stderr);
      }
    })();
    expect(bad).toMatch(/nowhere: no results\.json there/);
  });
});
