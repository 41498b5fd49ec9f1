import { describeTarget } from '../corpus/target';
import { describeContamination, type ContaminationSummary } from '../eval/contamination';
import { fractionLabel } from '../config/fractions';
import { identityPhrase } from '../config/model-identity';
import { variantTokensText } from '../model-spec/spec-variants';
import { diffRange, pct, pp, rateRange } from './format';
import type { RateInterval } from '../eval/stats';
import { controlRows } from './arms-tables';
import type { Interval } from '../eval/bootstrap';
import type { PromptCount } from '../eval/counts';
import type { ResultCell, Results } from './results';
import type { MidtrainSeedLineage } from './results-types';
import type { Table } from './table';

export type { Table };

const orderCells = (a: { arm: string; fraction: number; seed: number }, b: typeof a) =>
  a.arm.localeCompare(b.arm) || b.fraction - a.fraction || a.seed - b.seed;

export function lineageRows(results: Results): Array<[string, string]> {
  const l = results.lineage;
  const c = l.corpus;
  return [
    ['experiment', `${results.experiment.name} (${results.experiment.workflowId})`],
    ['spec', `${l.spec.title} — variant ${l.spec.variant}${specTokensText(l.spec)}`],
    ['spec hash', l.spec.hash],
    ['base model', l.baseModel],
    ...(l.tokenizer ? [['tokenizer', `${l.tokenizer.name} — sha256 ${l.tokenizer.sha256}`] as [string, string]] : []),
    ...(l.identity ? [['model identity', identityPhrase(l.identity)] as [string, string]] : []),
    [
      'corpus',
      `${c.documents} documents, ${c.tokens} tokens, ${c.truncated} truncated (kept, flagged); dropped ${c.truncatedDropped} truncated ` +
        `and ${c.duplicatesRemoved} near-duplicates; documents cost $${c.documentCostUsd.toFixed(2)} — hash ${c.hash}`,
    ],
    ...(c.target ? [['corpus target', describeTarget(c.target)] as [string, string]] : []),
    ...(c.tokenLengths
      ? [
          [
            'corpus token lengths',
            `per document: min ${c.tokenLengths.min}, median ${c.tokenLengths.median}, p95 ${c.tokenLengths.p95}, max ${c.tokenLengths.max} — histogram ${c.tokenLengths.histogramUri}; counts ${c.tokenLengths.documentTokensUri}`,
          ] as [string, string],
        ]
      : []),
    ['midtraining', l.midtrain ? runText(l.midtrain) : 'none (no msm arm)'],
    ...(l.placebo
      ? [
          [
            'placebo midtraining',
            `same tokens, unrelated spec "${l.placebo.spec.title}" (hash ${l.placebo.spec.hash}): ${l.placebo.corpus.documents} documents generated with the MSM corpus's settings (hash ${l.placebo.corpus.hash}), ` +
              `cut at the MSM corpus's ${l.placebo.match.targetTokens} tokens to ${l.placebo.match.placeboTokens}` +
              `${l.placebo.match.short ? ` (${l.placebo.match.short} short: the placebo corpus had fewer tokens)` : ''}; ` +
              runText(l.placebo.midtrain),
          ] as [string, string],
        ]
      : []),
    ...(l.midtrains ?? []).map((m): [string, string] => [`midtraining seed ${m.seed}`, midtrainSeedText(m)]),
    ...(l.aftData
      ? [
          [
            'AFT data',
            `${l.aftData.examples} examples — sha256 ${l.aftData.sha256}${l.aftSpec ? `; ${aftSpecText(l.aftSpec)}` : ''}`,
          ] as [string, string],
        ]
      : []),
    ['eval set', l.evalSet ? evalSetText(l.evalSet, l.evalSettings) : 'not recorded'],
    ['contamination', l.contamination ? contaminationText(l.contamination) : 'not checked'],
    [
      'AFT examples',
      l.aft
        ? `${l.aft.examples} in the data; per fraction ${l.aft.fractions.map((f) => `${f.fractionLabel}: ${f.examples}`).join(', ')} (aft.minExamples ${l.aft.minExamples}, aft.minSteps ${l.aft.minSteps})`
        : 'not recorded',
    ],
    ['judge', l.judgeModels.join(', ') || 'none'],
    ['metric', results.metric],
    ['generated', results.generatedAt],
  ];
}

/** Which spec the AFT data was generated from (aft.generate), and where its text is stored. */
function aftSpecText(a: NonNullable<Results['lineage']['aftSpec']>): string {
  const which = a.path ? `aft.generate.spec ${a.path}` : "the experiment's spec";
  return `generated from "${a.title}" (${which}; spec hash ${a.hash}, text ${a.key})`;
}

/** The overlap check's counts and its first examples (eval.decontaminate). */
function contaminationText(c: ContaminationSummary): string {
  const against = Object.entries(c.evalItems)
    .map(([source, n]) => `${n} ${source}`)
    .join(', ');
  const examples = c.examples
    .slice(0, 3)
    .map(
      (m) =>
        `${m.training.source} ${m.training.id} ~ ${m.eval.source} ${m.eval.id} (${m.kind === 'ngram' ? `"${m.ngram}"` : `MinHash ${m.similarity?.toFixed(2)}`})`,
    )
    .join('; ');
  return (
    `${describeContamination(c)} — eval.decontaminate ${c.mode}; ${c.ngram}-word n-grams and MinHash ≥ ${c.minhashThreshold} against ${against} items` +
    (examples ? `; e.g. ${examples}` : '') +
    (c.detailsKey ? `; every flagged item: ${c.detailsKey}` : '')
  );
}

/** ", 812 spec tokens (variants: rules 812, …)": what a reader needs to see a length gap between variants. */
function specTokensText(s: Results['lineage']['spec']): string {
  if (s.tokens === undefined) return '';
  const all = s.variantTokens ? ` (every variant: ${variantTokensText(s.variantTokens)})` : '';
  return `, ${s.tokens.toLocaleString('en-US')} spec tokens${all}`;
}

/** Which part of the eval set was evaluated, and how. */
function evalSetText(
  e: NonNullable<Results['lineage']['evalSet']>,
  settings: Results['lineage']['evalSettings'],
): string {
  const part =
    e.split === 'inspect'
      ? `${e.prompts} conditions of the Inspect task ${settings?.inspectTask ?? ''}`.trimEnd()
      : `${e.prompts}${e.of !== undefined && e.of !== e.prompts ? ` of ${e.of}` : ''} prompts${e.split && e.split !== 'all' ? ` (the ${e.split === 'heldout' ? 'held-out' : e.split} split)` : ''}`;
  const conditions = settings?.conditions
    ? `; conditions ${Object.entries(settings.conditions)
        .map(([k, v]) => `${k}=${v.join('|')}`)
        .join(', ')}`
    : '';
  const thinking = settings?.thinking ? `; thinking ${settings.thinking}` : '';
  return `${part}${conditions}${thinking} — sha256 ${e.sha256}`;
}

const EXECUTED = 'executed: harmful tag well-formed (95% CI)';
const UNPARSED = 'unparseable choices';
const TRUNCATED = 'cut off at maxNewTokens';
const subRate = (r: RateInterval | null) =>
  r === null ? '—' : r.n ? `${pct(r.rate)} (${rateRange(r)}), ${r.k}/${r.n}` : 'no samples';

/** Secondary columns appear only when some row has them (agentic judges, forced choices). */
function withSecondary(
  t: Table,
  subs: Array<{ executed: RateInterval | null; unparsed: RateInterval | null; truncated: RateInterval | null }>,
): Table {
  const cols = [
    { header: EXECUTED, of: (x: (typeof subs)[number]) => x.executed },
    { header: UNPARSED, of: (x: (typeof subs)[number]) => x.unparsed },
    { header: TRUNCATED, of: (x: (typeof subs)[number]) => x.truncated },
  ].filter((c) => subs.some((x) => c.of(x) !== null));
  return {
    headers: [...t.headers, ...cols.map((c) => c.header)],
    rows: t.rows.map((r, i) => [...r, ...cols.map((c) => subRate(c.of(subs[i])))]),
  };
}

const corrText = (p: { corrected: Interval | null; withinJudgeError: boolean }) =>
  p.corrected
    ? `${pct(p.corrected.estimate)} (${rateRange(p.corrected)})${p.withinJudgeError ? ', within judge error' : ''}`
    : '—';

/** One row per arm × fraction, seeds pooled; then one per control (no AFT, evaluated once). */
export function armFractionTable(results: Results): Table {
  const core: Table = {
    headers: [
      'arm',
      'fraction',
      'seeds',
      'k/n',
      'rate',
      '95% CI (cluster bootstrap)',
      '95% CI if samples were independent (Wilson)',
      'macro-average over conditions (95% CI)',
      'corrected for judge error (95% CI)',
      'unjudged',
      'per-seed mean ± sd [min – max]',
    ],
    rows: results.curves
      .flatMap((curve) =>
        curve.points.map((p) => {
          const m = p.misalignment;
          const s = p.spread;
          return [
            curve.arm,
            p.fractionLabel,
            String(p.seeds),
            `${m.k}/${m.n}`,
            m.n ? pct(m.rate) : 'no samples',
            m.n ? rateRange(m) : '—',
            m.n ? rateRange(p.wilson) : '—',
            p.macro ? `${pct(p.macro.estimate)} (${rateRange(p.macro)}), ${p.macro.conditions} conditions` : '—',
            corrText(p),
            String(p.unjudged),
            s ? `${pct(s.mean)} ± ${s.sd === null ? '—' : pct(s.sd)} [${pct(s.min)} – ${pct(s.max)}]` : '—',
          ];
        }),
      )
      .concat(controlRows(results)),
  };
  return withSecondary(core, [...results.curves.flatMap((curve) => curve.points), ...(results.controls ?? [])]);
}

/** Every contrast with the reference arm: the primary first, then the secondary ones with Holm-adjusted p. */
export function differenceTable(results: Results): Table {
  const rateAt = (arm: string, f: number) =>
    results.curves.find((c) => c.arm === arm)?.points.find((p) => p.fraction === f)?.misalignment;
  return {
    headers: [
      'outcome',
      'contrast',
      'fraction',
      'rates',
      'difference',
      '95% CI (cluster bootstrap)',
      'p (Holm-adjusted)',
      'corrected for judge error (95% CI)',
      'macro difference (95% CI)',
      'finding?',
    ],
    rows: results.differences.map((d) => {
      const a = rateAt(d.arm, d.fraction);
      const b = rateAt(d.versus, d.fraction);
      return [
        d.role,
        `${d.arm} − ${d.versus}`,
        d.fractionLabel,
        `${a?.n ? pct(a.rate) : '—'} vs ${b?.n ? pct(b.rate) : '—'}`,
        d.pooled ? pp(d.pooled.estimate) : 'no samples',
        d.pooled ? diffRange(d.pooled) : '—',
        d.pooled ? `${d.pooled.p.toFixed(3)}${d.pHolm === null ? '' : ` (${d.pHolm.toFixed(3)})`}` : '—',
        d.corrected ? `${pp(d.corrected.estimate)} (${diffRange(d.corrected)})` : '—',
        d.macro ? `${pp(d.macro.estimate)} (${diffRange(d.macro)})` : '—',
        !d.pooled ? '—' : d.withheld ? `no, withheld: ${d.withheld.reason}` : 'yes',
      ];
    }),
  };
}

/** The cells table: short columns only; each cell's URIs go in a details row under it (a page fits a laptop screen). */
export interface CellTable extends Table {
  /** Per row: what the cell started from and where its model, samples and judgments are. */
  details: Array<Array<[string, string]>>;
}

const num = (v: number | null | undefined) => (v === null || v === undefined ? '—' : String(Math.round(v)));
const lrText = (t: ResultCell['training']) => {
  const lr = t?.learningRates;
  if (!lr?.length) return '—';
  return `${lr[0].toExponential(1)} → max ${Math.max(...lr).toExponential(1)} → ${lr[lr.length - 1].toExponential(1)}`;
};

/** Every trained model with its numbers and how much it trained; where they came from in `details`; secondary counts last. */
export function cellTable(results: Results): CellTable {
  const cells = [...results.cells].sort(orderCells);
  const t = withSecondary(
    {
      headers: [
        'cell',
        'k/n',
        'rate',
        '95% CI (prompts)',
        'unjudged',
        'steps',
        'examples',
        'tokens',
        'learning rate',
        'AFT loss',
      ],
      rows: cells.map((c) => [
        c.id,
        `${c.misalignment.k}/${c.misalignment.n}`,
        c.misalignment.n ? pct(c.misalignment.rate) : 'no samples',
        c.misalignment.n ? rateRange(c.misalignment) : '—',
        String(c.unjudged),
        num(c.training?.steps),
        num(c.training?.examples),
        num(c.training?.tokens),
        lrText(c.training),
        c.trainFinalLoss === null ? '—' : c.trainFinalLoss.toFixed(4),
      ]),
    },
    cells,
  );
  const details = cells.map((c): Array<[string, string]> => [
    ['starts from', c.startsFrom],
    ['model', c.modelUri],
    ['samples', c.eval.samplesUri],
    ...(c.eval.judgmentsUri ? [['judgments', c.eval.judgmentsUri] as [string, string]] : []),
    ...(c.eval.logsUri ? [['Inspect logs (inspect view)', c.eval.logsUri] as [string, string]] : []),
    ['judge', c.eval.judgeModel],
    ...(c.training?.learningRates?.length
      ? [
          ['learning rate per step', c.training.learningRates.map((x) => x.toExponential(2)).join(', ')] as [
            string,
            string,
          ],
        ]
      : []),
  ]);
  return { ...t, details };
}

/** One row per kind of judging the eval set uses: how the judge did on its calibration set, and the bar. */
export function calibrationTable(results: Results): Table {
  return {
    headers: [
      'kind',
      'items (show / do not)',
      'false positives (95% upper bound)',
      'false negatives (95% upper bound)',
      'balanced accuracy',
      'human-labelled',
      'passed?',
    ],
    rows: results.calibration.kinds.map((k) => [
      k.kind,
      `${k.shows} / ${k.clean}${k.stopped ? ` (${k.stopped})` : ''}`,
      `${k.falsePositives}/${k.clean}: ${pct(k.falsePositiveRate)} (≤ ${pct(k.falsePositiveUpper)})`,
      `${k.falseNegatives}/${k.shows}: ${pct(k.falseNegativeRate)} (≤ ${pct(k.falseNegativeUpper)})`,
      pct(k.balancedAccuracy),
      k.humanLabelled ? `${k.humanLabelled.shows} / ${k.humanLabelled.clean}` : '—',
      k.passed ? 'yes' : `no: ${k.failures.join('; ')}`,
    ]),
  };
}

/** The line under each table of rates when the rates may not be stated as findings. */
export const notFindingsNote = (results: Results): string | null => {
  const w = results.headline.claims.rates.withheld;
  return w ? `Not findings: ${w.reason}. The numbers are listed for inspection only.` : null;
};

/** The analysis plan in one line: what is primary, how the rest is adjusted, what the intervals resample. */
export function analysisLine(results: Results): string {
  const a = results.analysis;
  const p = a.primary;
  const primary =
    p.fraction === null
      ? `No primary outcome: ${p.arm} and ${p.versus} did not both run at ${p.declared ? 'the declared fraction' : 'any fraction'}`
      : `Primary outcome (${p.declared ? 'declared in the experiment file' : 'the default'}): ${p.arm} − ${p.versus} at ${fractionLabel(p.fraction)}, a finding when its 95% interval excludes 0`;
  return `${primary}. Every other contrast is secondary: a finding only when its Holm-adjusted p < 0.05. Intervals resample ${a.clusters.prompts} prompt clusters and each cell's ${a.clusters.fewestSeeds === 1 ? 'one seed' : `seeds (at least ${a.clusters.fewestSeeds})`}.`;
}

/** The methods section, one line each (HTML list items, Markdown bullets). */
export function methodLines(results: Results): string[] {
  const m = results.methods;
  const b = m.bootstrap;
  return [
    `Intervals: ${m.intervals}.`,
    `Bootstrap: ${b.method}; ${b.resamples} resamples, seed ${b.seed}, level ${b.level}.`,
    `Seeds: ${m.seeds}.`,
    ...(m.midtraining ? [`Midtraining: ${m.midtraining}.`] : []),
    `Tests: ${m.tests}.`,
    `Data efficiency: ${m.dataEfficiency}.`,
    `Judge calibration: ${m.calibration}.`,
    `Judge error: ${m.judgeError}.`,
    `Unjudged samples: ${m.unjudged}.`,
    `Claims: ${m.claims}.`,
    `Conditions: ${m.conditions}.`,
    `Secondary counts: ${m.secondary}.`,
    `Lineage: ${results.lineage.trace.join('; ')}.`,
  ];
}

/**
 * The rate per eval condition (seeds pooled) for each arm at its largest fraction and each control: where the
 * arms differ, scenario by scenario. Unjudged samples are left out of k/n, as everywhere, and counted beside.
 */
export function conditionTable(results: Results): Table | null {
  const columns = [
    ...results.curves.map((c) => {
      const top = c.points.reduce((a, b) => (b.fraction > a.fraction ? b : a), c.points[0]);
      const cells = results.cells.filter((x) => x.arm === c.arm && x.fraction === top.fraction);
      return { header: `${c.arm} at ${top.fractionLabel}`, prompts: cells.flatMap((x) => x.prompts ?? []) };
    }),
    ...(results.controls ?? []).map((c) => ({ header: `${c.arm} (control)`, prompts: c.prompts ?? [] })),
  ] satisfies Array<{ header: string; prompts: PromptCount[] }>;
  const names = [...new Set(columns.flatMap((c) => c.prompts.map((x) => x.condition)))].sort();
  if (names.length < 2) return null;
  const at = (col: (typeof columns)[number], name: string) => {
    const rows = col.prompts.filter((x) => x.condition === name);
    const k = rows.reduce((a, x) => a + x.k, 0);
    const n = rows.reduce((a, x) => a + x.n, 0);
    const u = rows.reduce((a, x) => a + (x.unjudged ?? 0), 0);
    const rate = n ? `${pct(k / n)} (${k}/${n})` : '—';
    return u ? `${rate}, ${u} unjudged` : rate;
  };
  return {
    headers: ['condition', ...columns.map((c) => c.header)],
    rows: names.map((name) => [name, ...columns.map((c) => at(c, name))]),
  };
}

const runText = (r: { finalLoss: number | null; steps: number; checkpoint: string }) =>
  `${r.finalLoss === null ? 'no final loss recorded' : `final loss ${r.finalLoss.toFixed(4)}`} after ${r.steps} steps — ${r.checkpoint}`;

/** midtrain.seeds: a further midtraining, its corpus draw and (placebo arms) its placebo, in one lineage row. */
function midtrainSeedText(m: MidtrainSeedLineage): string {
  const draw = m.corpusDraw === 0 ? 'on the corpus of seed 0 (shared draw)' : `on corpus draw ${m.corpusDraw}`;
  const corpus = `${m.corpus.documents} documents, ${m.corpus.tokens} tokens — hash ${m.corpus.hash}`;
  const placebo = m.placebo
    ? `; placebo: ${m.placebo.corpus.documents} documents (hash ${m.placebo.corpus.hash}) cut to ${m.placebo.match.placeboTokens} of ${m.placebo.match.targetTokens} tokens, ${runText(m.placebo.midtrain)}`
    : '';
  return `${draw} (${corpus}): ${m.midtrain ? runText(m.midtrain) : 'no msm arm'}${placebo}`;
}
