import { fractionLabel } from '../config/fractions';
import { boundText, diffRange, pct, pp, rateRange } from './format';
import { esc, htmlTable } from './html';
import { markdownTable } from './markdown';
import { judgeProblem } from './judge-problem';
import type { Results } from './results';
import type { Table } from './tables';
import { rateContrastLine, rateContrasts, type RateContrast } from './rate-contrast';
import { contrastLine, valueContrasts, type ValueContrast } from './value-contrast';

/**
 * Model Spec Science: several experiments that differ in their spec (rules only, rules + values,
 * rules + sub-rules, another spec altogether) compared by how their MSM arm generalises — the rate at
 * full data, msm − baseline at every fraction all of them ran, and the data-efficiency factor.
 */
export interface Comparison {
  format: 'msm-comparison-v1';
  metric: string;
  /** Fractions every experiment ran in both arms: the columns where they can be compared. */
  fractions: number[];
  experiments: Array<{
    name: string;
    workflowId: string;
    spec: Results['lineage']['spec'];
    /** The spec generated AFT data came from (an MSM spec × AFT spec design varies both); absent: aft.data. */
    aftSpec?: Results['lineage']['aftSpec'];
    baseModel: string;
    corpusHash: string;
    /** The corpus's tokens: with spec.tokens, whether the variants differ in length as well as content. */
    corpusTokens?: number;
    /** The rate of each arm at its largest fraction, with its cluster-bootstrap 95% interval. */
    fullData: Record<'baseline' | 'msm', { fraction: number; rate: number; lo: number; hi: number } | null>;
    /** msm − baseline at each shared fraction (bootstrap 95%); null where an arm judged nothing. */
    differences: Array<{ fraction: number; estimate: number; lo: number; hi: number } | null>;
    dataEfficiency: Results['dataEfficiency'];
    /** Present when this experiment's judge is not trusted: its rates and differences are not findings. */
    withheld?: { reason: string };
  }>;
  /**
   * Values evals (the cheese pair): per arm and value, the first experiment's share minus each other's,
   * with a bootstrap interval; empty when the results carry no value shares.
   */
  valueContrasts: ValueContrast[];
  /**
   * Per arm, the first experiment's headline rate minus each other's (the between-variant contrast of
   * Model Spec Science), with a cluster-bootstrap interval and the claims rules applied.
   */
  rateContrasts?: RateContrast[];
}

export class ComparisonError extends Error {
  override name = 'ComparisonError';
}

export function buildComparison(all: Results[]): Comparison {
  if (all.length < 2) throw new ComparisonError('compare needs at least two results.json files');
  const metrics = new Set(all.map((r) => r.metric));
  if (metrics.size > 1) {
    throw new ComparisonError(
      `these results measure different things and cannot be compared:\n  - ${[...metrics].join('\n  - ')}`,
    );
  }
  const mismatch = comparabilityProblems(all);
  if (mismatch.length)
    throw new ComparisonError(
      `these results were not measured the same way, so their differences would not be the spec's:\n  - ${mismatch.join('\n  - ')}\ncompare runs of one eval set, eval settings, judge, base model and tokenizer (the spec is what msm compare contrasts)`,
    );
  const shared = all
    .map((r) => new Set(msmBaseline(r).map((d) => d.fraction)))
    .reduce((a, b) => new Set([...a].filter((f) => b.has(f))));
  const fractions = [...shared].sort((a, b) => b - a);
  return {
    format: 'msm-comparison-v1',
    metric: all[0].metric,
    fractions,
    experiments: all.map((r) => {
      const full = (arm: 'baseline' | 'msm') => {
        const p = r.curves.find((c) => c.arm === arm)?.points.reduce((a, b) => (b.fraction > a.fraction ? b : a));
        return p
          ? { fraction: p.fraction, rate: p.misalignment.rate, lo: p.misalignment.lo, hi: p.misalignment.hi }
          : null;
      };
      return {
        name: r.experiment.name,
        workflowId: r.experiment.workflowId,
        spec: r.lineage.spec,
        ...(r.lineage.aftSpec && { aftSpec: r.lineage.aftSpec }),
        baseModel: r.lineage.baseModel,
        corpusHash: r.lineage.corpus.hash,
        corpusTokens: r.lineage.corpus.tokens,
        fullData: { baseline: full('baseline'), msm: full('msm') },
        differences: fractions.map((f) => {
          const d = msmBaseline(r).find((x) => x.fraction === f)?.pooled;
          return d ? { fraction: f, estimate: d.estimate, lo: d.lo, hi: d.hi } : null;
        }),
        dataEfficiency: r.dataEfficiency,
        ...withheldFor(r),
      };
    }),
    valueContrasts: all.slice(1).flatMap((r) => valueContrasts(all[0], r)),
    rateContrasts: all.slice(1).flatMap((r) => rateContrasts(all[0], r)),
  };
}

/**
 * What must be the same in every run for a difference between them to be the spec's: each property's value
 * (null: not recorded) and, where the value alone would not tell a reader which it is, how to show it.
 */
const MEASURED_THE_SAME: Array<[string, (r: Results) => string | null, ((r: Results) => string)?]> = [
  ['eval set', (r) => r.lineage.evalSet?.sha256 ?? null],
  // No settings recorded: the defaults (no thinking setting, every condition, msm's own suite).
  ['eval settings', (r) => JSON.stringify(r.lineage.evalSettings ?? {})],
  ['judge', (r) => (r.lineage.judgeModels?.length ? [...r.lineage.judgeModels].sort().join(', ') : null)],
  ['base model', (r) => r.lineage.baseModel ?? null],
  // By content: two folders holding the same tokenizer files are the same tokenizer.
  [
    'tokenizer',
    (r) => r.lineage.tokenizer?.sha256 ?? null,
    (r) => `${r.lineage.tokenizer!.name} (sha256 ${r.lineage.tokenizer!.sha256.slice(0, 16)})`,
  ],
];

/** One line per property the runs do not share (unknown in an older results.json: not checked). */
export function comparabilityProblems(all: Results[]): string[] {
  return MEASURED_THE_SAME.flatMap(([what, of, show]) => {
    const seen = all.flatMap((r) => {
      const v = of(r);
      return v === null ? [] : [{ name: r.experiment.name, v, shown: show ? show(r) : v }];
    });
    if (new Set(seen.map((x) => x.v)).size <= 1) return [];
    return [`${what} differs: ${seen.map((x) => `${x.name}: ${x.shown}`).join('; ')}`];
  });
}

/** msm − baseline at each fraction with judged samples (results before v4 held only these, without arm names). */
const msmBaseline = (r: Results) =>
  r.differences.filter((d) => (d.arm ?? 'msm') === 'msm' && (d.versus ?? 'baseline') === 'baseline' && d.pooled);

function withheldFor(r: Results): { withheld?: { reason: string } } {
  const reason = judgeProblem(r);
  return reason ? { withheld: { reason } } : {};
}

/** The value contrasts as lines (printed by `msm compare`, listed in comparison.md and .html). */
export const contrastLines = (c: Comparison): string[] => (c.valueContrasts ?? []).map(contrastLine);

/** The headline-rate contrasts as lines (printed by `msm compare` first, listed in comparison.md and .html). */
export const rateLines = (c: Comparison): string[] =>
  (c.rateContrasts ?? []).map((x) => rateContrastLine(x, 'headline rate'));

const RATE_NOTE =
  "Each line is the first experiment's headline rate minus the other's, for the same arm (an AFT arm at its largest " +
  "fraction both ran; a control's one evaluation), with a 95% interval from a bootstrap that resamples each run's " +
  'seeds and prompts. A contrast is withheld when a judge is not trusted, its interval includes 0, or both rates sit at 0 or 100%.';

const CONTRAST_NOTE =
  "Values: each line is the first experiment's share of answers revealing a value minus the other's, for the same arm " +
  "(an AFT arm at its largest fraction both ran; a control's one evaluation), with a seed-clustered bootstrap 95% interval.";

/**
 * ", 812 spec tokens, corpus 41,000 tokens": each variant's size beside its rates; nothing for results
 * written before spec tokens were counted (their cell reads as it always did).
 */
function sizeText(e: Comparison['experiments'][number]): string {
  if (e.spec.tokens === undefined) return '';
  const n = (x: number) => x.toLocaleString('en-US');
  return `, ${n(e.spec.tokens)} spec tokens${e.corpusTokens !== undefined ? `, corpus ${n(e.corpusTokens)} tokens` : ''}`;
}

/** "; AFT data from "Cheese" 1a2b…": only when the AFT data was generated from another spec than the midtraining one. */
function aftSpecText(e: Comparison['experiments'][number]): string {
  const a = e.aftSpec;
  return a && a.hash !== e.spec.hash ? `; AFT data from "${a.title}" ${a.hash.slice(0, 12)}` : '';
}

export function comparisonTable(c: Comparison): Table {
  const rate = (p: { rate: number; lo: number; hi: number } | null) => (p ? `${pct(p.rate)} (${rateRange(p)})` : '—');
  return {
    headers: [
      'experiment',
      'spec (variant)',
      'baseline, full data',
      'msm, full data',
      ...c.fractions.map((f) => `msm − baseline at ${fractionLabel(f)}`),
      'data efficiency (95% CI)',
    ],
    rows: c.experiments.map((e) => {
      // A judge that is not trusted: its numbers stay listed, marked, with the reason in the last column.
      const mark = (text: string) => (e.withheld && text !== '—' ? `not a finding: ${text}` : text);
      return [
        e.withheld ? `${e.name} (judge not trusted: ${e.withheld.reason})` : e.name,
        `${e.spec.title} (${e.spec.variant}${sizeText(e)}) ${e.spec.hash.slice(0, 12)}${aftSpecText(e)}`,
        mark(rate(e.fullData.baseline)),
        mark(rate(e.fullData.msm)),
        ...e.differences.map((d) => mark(d ? `${pp(d.estimate)} (${diffRange(d)})` : '—')),
        dataEfficiencyText(e.dataEfficiency),
      ];
    }),
  };
}

function dataEfficiencyText(d: Results['dataEfficiency']): string {
  const est = d.estimate;
  if (est.status === 'unavailable') return 'unavailable';
  const point = est.status === 'not-reached' ? 'not reached' : boundText({ status: est.status, factor: est.factor });
  const text = d.interval ? `${point} (${boundText(d.interval.lo)} to ${boundText(d.interval.hi)})` : point;
  // The experiment's own report withheld it: the comparison does not state it as a finding either.
  return d.withheld ? `withheld, not a finding: ${text} — ${d.withheld.reason}` : text;
}

export function renderComparisonMarkdown(c: Comparison): string {
  return [
    '# MSM comparison',
    '',
    `Metric: ${c.metric}. Full data = each arm's largest fraction (95% cluster-bootstrap interval: prompts and seeds resampled); differences and data efficiency with the same bootstrap.`,
    '',
    markdownTable(comparisonTable(c)),
    '',
    ...(rateLines(c).length
      ? ['## Headline rate: difference between the runs', '', RATE_NOTE, '', ...rateLines(c).map((l) => `- ${l}`), '']
      : []),
    ...(contrastLines(c).length
      ? ['## Values: difference between the runs', '', CONTRAST_NOTE, '', ...contrastLines(c).map((l) => `- ${l}`), '']
      : []),
  ].join('\n');
}

export function renderComparisonHtml(c: Comparison): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>msm comparison</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#111827}table{border-collapse:collapse}td,th{border:1px solid #d1d5db;padding:.3rem .6rem;text-align:left;font-size:.9rem}th{background:#f3f4f6}</style>
</head><body>
<h1>MSM comparison</h1>
<p>Metric: ${esc(c.metric)}. Full data = each arm's largest fraction (95% cluster-bootstrap interval: prompts and seeds resampled); differences and data efficiency with the same bootstrap.</p>
${htmlTable(comparisonTable(c))}
${
  rateLines(c).length
    ? `<h2>Headline rate: difference between the runs</h2>\n<p>${esc(RATE_NOTE)}</p>\n<ul>${rateLines(c)
        .map((l) => `<li>${esc(l)}</li>`)
        .join('')}</ul>`
    : ''
}
${
  contrastLines(c).length
    ? `<h2>Values: difference between the runs</h2>\n<p>${esc(CONTRAST_NOTE)}</p>\n<ul>${contrastLines(c)
        .map((l) => `<li>${esc(l)}</li>`)
        .join('')}</ul>`
    : ''
}
</body></html>
`;
}
