import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { experimentSchema } from '../../src/config/experiment-schema';
import { checkExperiment, variantGapWarning } from '../../src/experiment/check-experiment';
import { specGivesReasons } from '../../src/corpus/prompts';
import { loadExperimentFile } from '../../src/experiment/load-experiment-file';
import { loadSweepFile } from '../../src/sweep/load-sweep-file';
import { parseSpec } from '../../src/model-spec/parse-spec';
import {
  deriveVariant,
  lengthGap,
  lengthGapWarning,
  renderSpec,
  variantTokens,
  variantTokensText,
} from '../../src/model-spec/spec-variants';
import { loadTokenizer } from '../../src/tokenize/tokenizer';
import { buildComparison, comparisonTable } from '../../src/report/compare';
import { buildResults, type ReportInput } from '../../src/report/results';
import { lineageRows } from '../../src/report/tables';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import { smallReportInput } from '../helpers/report-input';
import { demoExperiment } from '../helpers/demo-experiment';
import { runMsmInProcess } from '../helpers/msm-cli';

const source = readFileSync(path.join(PROJECT_ROOT, 'specs', 'self-preservation.md'), 'utf8');
const spec = parseSpec(source, 'self-preservation.md');
const words = async (texts: string[]) => texts.map((t) => t.split(/\s+/).filter(Boolean).length);

describe('spec variant sizes', () => {
  it('counts every variant on the text the prompts see', async () => {
    const t = await variantTokens(spec, words);
    expect(Object.keys(t)).toEqual(['rules', 'rules+values', 'rules+subrules', 'full']);
    expect(t.full).toBe((await words([renderSpec(deriveVariant(spec, 'full'))]))[0]);
    // Variants made by deleting text: the full spec is the longest, rules alone the shortest.
    expect(t.rules!).toBeLessThan(t['rules+values']!);
    expect(t['rules+values']!).toBeLessThan(t.full!);
  });

  it('measures the gap as a share of the longest, and warns only above the declared share', () => {
    expect(lengthGap({ rules: 800, full: 1000 })).toBeCloseTo(0.2, 12);
    expect(lengthGap({ rules: 800 })).toBe(0);
    expect(lengthGapWarning({ rules: 800, full: 1000 }, 0.2)).toBeUndefined();
    const w = lengthGapWarning({ rules: 500, 'rules+values': 900, full: 1000 }, 0.2)!;
    expect(w).toMatch(/^variants\.maxLengthGap: the spec variants' lengths differ by 50% of the longest/);
    expect(w).toContain('spec tokens: rules 500, rules+values 900, full 1,000');
    expect(w).toContain('over the 20% allowed');
    expect(w).toMatch(/write the variants to matching length .* or raise variants\.maxLengthGap$/);
    expect(variantTokensText({ full: 1000, rules: 2 })).toBe('rules 2, full 1,000');
  });

  it('variants.compare limits the check to the variants the study compares', () => {
    const tokens = { rules: 900, 'rules+values': 1000, 'rules+subrules': 950, full: 3000 };
    expect(variantGapWarning(tokens, { maxLengthGap: 0.2 })).toMatch(/differ by 70%/);
    expect(variantGapWarning(tokens, { maxLengthGap: 0.2, compare: ['rules', 'rules+values'] })).toBeUndefined();
  });

  it('the setting: a share strictly between 0 and 1, at least two variants, each once', () => {
    const parse = (variants: unknown) => experimentSchema.safeParse({ ...demoExperiment('v'), variants }).success;
    expect(parse({ maxLengthGap: 0.2 })).toBe(true);
    expect(parse({ maxLengthGap: 0.2, compare: ['rules', 'full'] })).toBe(true);
    expect(parse({ maxLengthGap: 0 })).toBe(false);
    expect(parse({ maxLengthGap: 1.5 })).toBe(false);
    expect(parse({ maxLengthGap: 0.2, compare: ['rules'] })).toBe(false);
    expect(parse({ maxLengthGap: 0.2, compare: ['rules', 'rules'] })).toBe(false);
    expect(parse({ compare: ['rules', 'full'] })).toBe(false);
  });
});

describe('msm validate on variant lengths', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-variants-'));
  const raw = (over: Record<string, unknown>) => ({
    ...demoExperiment('variants', path.join(dir, 'store')),
    spec: 'specs/self-preservation.md',
    ...over,
  });

  it("counts with the experiment's tokenizer and warns when the variants differ by more than declared", async () => {
    const checked = await checkExperiment(raw({ variants: { maxLengthGap: 0.05 } }), 'x.yaml');
    const tok = await loadTokenizer('llama3.1');
    const full = (await tok.encodeBatch([renderSpec(deriveVariant(spec, 'full'))]))[0].length;
    expect(checked.specTokens?.full).toBe(full);
    expect(checked.warnings.filter((w) => w.startsWith('variants.maxLengthGap:'))).toHaveLength(1);
    // A share wider than the gap: no warning; no setting: nothing counted (a tokenizer takes seconds to load).
    const gap = lengthGap(checked.specTokens!);
    const wide = await checkExperiment(raw({ variants: { maxLengthGap: Math.min(0.99, gap + 0.01) } }), 'x.yaml');
    expect(wide.warnings.some((w) => w.startsWith('variants.maxLengthGap:'))).toBe(false);
    const none = await checkExperiment(raw({}), 'x.yaml');
    expect(none.specTokens).toBeUndefined();
  }, 60_000);

  it('msm validate prints each variant’s spec tokens (and the identity), and the warning on stderr', async () => {
    const file = path.join(dir, 'v.yaml');
    const baseModel = { identity: { name: 'Aria', developer: 'Northwind Labs' } };
    writeFileSync(file, YAML.stringify(raw({ variants: { maxLengthGap: 0.05 }, baseModel })));
    const r = await runMsmInProcess(['validate', file]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /spec tokens per variant \(llama3\.1 tokenizer; this experiment: full\): rules [\d,]+, rules\+values [\d,]+, rules\+subrules [\d,]+, full [\d,]+/,
    );
    expect(r.stdout).toContain('  identity: the corpus and AFT data speak of Aria, developed by Northwind Labs');
    expect(r.stderr).toMatch(
      /^warning: variants\.maxLengthGap: the spec variants' lengths differ by [\d.]+% of the longest/m,
    );
  }, 60_000);
});

describe('variant sizes in results and the comparison', () => {
  const input = (variant: string, variantTokens?: Record<string, number>): ReportInput =>
    smallReportInput({
      name: `exp-${variant}`,
      workflowId: `wf-${variant}`,
      specHash: `hash-${variant}`,
      specVariant: variant,
      ...(variantTokens && { variantTokens }),
      corpus: { ...smallReportInput().experiment.corpus, documents: 10, tokens: variant === 'rules' ? 41_000 : 52_000 },
    });
  const sizes = { rules: 812, 'rules+values': 1020, 'rules+subrules': 900, full: 1500 };

  it("the lineage records this variant's spec tokens and every variant's; the report shows them", () => {
    const r = buildResults(input('rules', sizes));
    expect(r.lineage.spec).toMatchObject({ variant: 'rules', tokens: 812, variantTokens: sizes });
    const row = lineageRows(r).find(([k]) => k === 'spec')![1];
    expect(row).toBe(
      'Spec — variant rules, 812 spec tokens (every variant: rules 812, rules+values 1,020, rules+subrules 900, full 1,500)',
    );
    // Runs loaded before the count: the row as it was.
    expect(lineageRows(buildResults(input('rules'))).find(([k]) => k === 'spec')![1]).toBe('Spec — variant rules');
  });

  it('msm compare shows each variant’s spec and corpus tokens beside its rates', () => {
    const c = buildComparison([buildResults(input('rules', sizes)), buildResults(input('full', sizes))]);
    expect(c.experiments.map((e) => [e.spec.tokens, e.corpusTokens])).toEqual([
      [812, 41_000],
      [1500, 52_000],
    ]);
    const cells = comparisonTable(c).rows.map((row) => row[1]);
    expect(cells[0]).toContain('(rules, 812 spec tokens, corpus 41,000 tokens)');
    expect(cells[1]).toContain('(full, 1,500 spec tokens, corpus 52,000 tokens)');
  });
});

/**
 * Length-matched Model Spec Science (experiments/spec-science-matched.yaml): specs/demo-matched.md's rules+values
 * and rules+subrules variants have the same rules and the same length, one adding the values, the other
 * value-neutral sub-rules; the base file's variants.maxLengthGap makes `msm validate` hold them to it.
 */
describe('the length-matched spec-science files', () => {
  const base = path.join(PROJECT_ROOT, 'experiments', 'spec-science-matched-base.yaml');
  const matched = parseSpec(
    readFileSync(path.join(PROJECT_ROOT, 'specs', 'demo-matched.md'), 'utf8'),
    'demo-matched.md',
  );
  const demo = parseSpec(readFileSync(path.join(PROJECT_ROOT, 'specs', 'demo.md'), 'utf8'), 'demo.md');
  const rulesOf = (s: typeof demo) => s.sections.flatMap((x) => x.rules);

  it('declares a 10% gap between rules+subrules and rules+values, and the variants are within it (llama3.1 tokens)', async () => {
    const { raw, experiment } = loadExperimentFile(base);
    expect(experiment.variants).toEqual({ compare: ['rules+subrules', 'rules+values'], maxLengthGap: 0.1 });
    const checked = await checkExperiment(raw, base);
    const tok = await loadTokenizer('llama3.1');
    const count = async (v: 'rules+subrules' | 'rules+values') =>
      (await tok.encodeBatch([renderSpec(deriveVariant(matched, v))]))[0].length;
    const [padded, values] = [await count('rules+subrules'), await count('rules+values')];
    expect(checked.specTokens).toMatchObject({ 'rules+subrules': padded, 'rules+values': values });
    expect(lengthGap({ 'rules+subrules': padded, 'rules+values': values })).toBeLessThanOrEqual(0.1);
    expect(checked.warnings.filter((w) => w.startsWith('variants.maxLengthGap:'))).toEqual([]);
    // The confound it removes: specs/demo.md's variants, made by deleting text, are far apart under the same check.
    const unmatched = await checkExperiment({ ...raw, spec: 'specs/demo.md' }, base);
    expect(unmatched.warnings.filter((w) => w.startsWith('variants.maxLengthGap:'))).toHaveLength(1);
  });

  it('the padded variant gives no reasons (the corpus prompts’ own test), the values variant does; same rules and values as demo.md', () => {
    const padded = renderSpec(deriveVariant(matched, 'rules+subrules'));
    expect(specGivesReasons(padded)).toBe(false);
    expect(specGivesReasons(renderSpec(deriveVariant(matched, 'rules+values')))).toBe(true);
    const subrules = rulesOf(matched).flatMap((r) => r.subrules);
    expect(subrules.length).toBeGreaterThanOrEqual(rulesOf(matched).length);
    for (const s of subrules) expect(s).not.toMatch(/\b(because|so that|in order to|since|why|so|reasons?|value)\b/i);
    // The values variant is demo.md's own: the same rules, each with the same values.
    expect(rulesOf(matched).map((r) => [r.text, r.values])).toEqual(rulesOf(demo).map((r) => [r.text, r.values]));
    // demo.md's sub-rules are kept; the added ones pad the rules-only side.
    for (const r of rulesOf(demo)) {
      const m = rulesOf(matched).find((x) => x.text === r.text)!;
      expect(m.subrules.slice(0, r.subrules.length)).toEqual(r.subrules);
    }
  });

  it('the sweep has one point per compared variant, each valid as msm validate checks it, with no length warning', async () => {
    const { points } = loadSweepFile(path.join(PROJECT_ROOT, 'experiments', 'spec-science-matched.yaml'));
    expect(points.map((p) => p.experiment.specVariant)).toEqual(['rules+subrules', 'rules+values']);
    for (const p of points) {
      const checked = await checkExperiment(p.experiment, p.id);
      expect(checked.experiment.spec).toBe('specs/demo-matched.md');
      expect(checked.warnings.some((w) => w.startsWith('variants.maxLengthGap:'))).toBe(false);
    }
  });

  it('msm validate prints both variants’ spec tokens; msm plan prints its figures', async () => {
    const v = await runMsmInProcess(['validate', base]);
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/spec tokens per variant \(llama3\.1 tokenizer; this experiment: rules\+values\): /);
    expect(v.stderr).not.toContain('variants.maxLengthGap');
    const p = await runMsmInProcess(['plan', base]);
    expect(p.status, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/^total +API \$[\d.]+ +[\d.]+ +\$[\d.]+ +\d+ min$/m);
  });
});
