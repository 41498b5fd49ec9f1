import { diffRange, pct, pp, rateRange } from './format';
import type { RateInterval } from '../eval/stats';
import { controlRows } from './arms-tables';
import type { Results } from './results';
import type { Table } from './table';

export type { Table };

const orderCells = (a: { arm: string; fraction: number; seed: number }, b: typeof a) =>
  a.arm.localeCompare(b.arm) || b.fraction - a.fraction || a.seed - b.seed;

export function lineageRows(results: Results): Array<[string, string]> {
  const l = results.lineage;
  const c = l.corpus;
  return [
    ['experiment', `${results.experiment.name} (${results.experiment.workflowId})`],
    ['spec', `${l.spec.title} — variant ${l.spec.variant}`],
    ['spec hash', l.spec.hash],
    ['base model', l.baseModel],
    [
      'corpus',
      `${c.documents} documents, ${c.tokens} tokens, ${c.truncated} truncated (kept, flagged); dropped ${c.truncatedDropped} truncated ` +
        `and ${c.duplicatesRemoved} near-duplicates; documents cost $${c.documentCostUsd.toFixed(2)} — hash ${c.hash}`,
    ],
    ...(c.tokenLengths
      ? [
          [
            'corpus token lengths',
            `per document: min ${c.tokenLengths.min}, median ${c.tokenLengths.median}, p95 ${c.tokenLengths.p95}, max ${c.tokenLengths.max} — histogram ${c.tokenLengths.histogramUri}; counts ${c.tokenLengths.documentTokensUri}`,
          ] as [string, string],
        ]
      : []),
    [
      'midtraining',
      l.midtrain
        ? `${l.midtrain.finalLoss === null ? 'no final loss recorded' : `final loss ${l.midtrain.finalLoss.toFixed(4)}`} after ${l.midtrain.steps} steps — ${l.midtrain.checkpoint}`
        : 'none (no msm arm)',
    ],
    ...(l.aftData
      ? [['AFT data', `${l.aftData.examples} examples — sha256 ${l.aftData.sha256}`] as [string, string]]
      : []),
    ['eval set', l.evalSet ? `${l.evalSet.prompts} prompts — sha256 ${l.evalSet.sha256}` : 'not recorded'],
    [
      'AFT examples',
      l.aft
        ? `${l.aft.examples} in the data; per fraction ${l.aft.fractions.map((f) => `${f.fractionLabel}: ${f.examples}`).join(', ')} (aft.minExamples ${l.aft.minExamples})`
        : 'not recorded',
    ],
    ['judge', l.judgeModels.join(', ') || 'none'],
    ['metric', results.metric],
    ['generated', results.generatedAt],
  ];
}

const EXECUTED = 'executed: harmful tag well-formed (95% CI)';
const UNPARSED = 'unparseable choices';
const subRate = (r: RateInterval | null) =>
  r === null ? '—' : r.n ? `${pct(r.rate)} (${rateRange(r)}), ${r.k}/${r.n}` : 'no samples';

/** Secondary columns appear only when some row has them (agentic judges, forced choices). */
function withSecondary(t: Table, subs: Array<{ executed: RateInterval | null; unparsed: RateInterval | null }>): Table {
  const cols = [
    { header: EXECUTED, of: (x: (typeof subs)[number]) => x.executed },
    { header: UNPARSED, of: (x: (typeof subs)[number]) => x.unparsed },
  ].filter((c) => subs.some((x) => c.of(x) !== null));
  return {
    headers: [...t.headers, ...cols.map((c) => c.header)],
    rows: t.rows.map((r, i) => [...r, ...cols.map((c) => subRate(c.of(subs[i])))]),
  };
}

/** One row per arm × fraction, seeds pooled; then one per control (no AFT, evaluated once). */
export function armFractionTable(results: Results): Table {
  const core: Table = {
    headers: [
      'arm',
      'fraction',
      'seeds',
      'k/n',
      'rate',
      '95% CI (Wilson)',
      '95% CI (bootstrap)',
      'macro-average over conditions (95% CI)',
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
            p.pooledBootstrap ? rateRange(p.pooledBootstrap) : '—',
            p.macro ? `${pct(p.macro.estimate)} (${rateRange(p.macro)}), ${p.macro.conditions} conditions` : '—',
            s ? `${pct(s.mean)} ± ${s.sd === null ? '—' : pct(s.sd)} [${pct(s.min)} – ${pct(s.max)}]` : '—',
          ];
        }),
      )
      .concat(controlRows(results)),
  };
  return withSecondary(core, [...results.curves.flatMap((curve) => curve.points), ...(results.controls ?? [])]);
}

/** msm − baseline at each fraction both arms ran, and whether each may be stated as a finding. */
export function differenceTable(results: Results): Table {
  const rateAt = (arm: string, f: number) =>
    results.curves.find((c) => c.arm === arm)?.points.find((p) => p.fraction === f)?.misalignment;
  return {
    headers: [
      'fraction',
      'msm',
      'baseline',
      'msm − baseline',
      '95% CI (bootstrap)',
      'macro difference (95% CI)',
      'finding?',
    ],
    rows: results.differences.map((d) => {
      const m = rateAt('msm', d.fraction);
      const b = rateAt('baseline', d.fraction);
      return [
        d.fractionLabel,
        m?.n ? pct(m.rate) : '—',
        b?.n ? pct(b.rate) : '—',
        d.pooled ? pp(d.pooled.estimate) : 'no samples',
        d.pooled ? diffRange(d.pooled) : '—',
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

/** Every trained model with its numbers; where they came from in `details`; secondary counts last. */
export function cellTable(results: Results): CellTable {
  const cells = [...results.cells].sort(orderCells);
  const t = withSecondary(
    {
      headers: ['cell', 'k/n', 'rate', '95% CI (Wilson)', 'AFT loss'],
      rows: cells.map((c) => [
        c.id,
        `${c.misalignment.k}/${c.misalignment.n}`,
        c.misalignment.n ? pct(c.misalignment.rate) : 'no samples',
        c.misalignment.n ? rateRange(c.misalignment) : '—',
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
    ['judge', c.eval.judgeModel],
  ]);
  return { ...t, details };
}

/** One row per kind of judging the eval set uses: how the judge did on its frozen calibration set. */
export function calibrationTable(results: Results): Table {
  return {
    headers: [
      'kind',
      'items (show / do not)',
      'accuracy',
      'balanced accuracy',
      'false positives',
      'false negatives',
      'passed?',
    ],
    rows: results.calibration.kinds.map((k) => [
      k.kind,
      `${k.shows} / ${k.clean}`,
      pct(k.accuracy),
      pct(k.balancedAccuracy),
      `${pct(k.falsePositiveRate)} (${k.falsePositives}/${k.clean})`,
      `${pct(k.falseNegativeRate)} (${k.falseNegatives}/${k.shows})`,
      k.passed ? 'yes' : `no (bar ${pct(results.calibration.minBalancedAccuracy)})`,
    ]),
  };
}

/** The line under each table of rates when the rates may not be stated as findings. */
export const notFindingsNote = (results: Results): string | null => {
  const w = results.headline.claims.rates.withheld;
  return w ? `Not findings: ${w.reason}. The numbers are listed for inspection only.` : null;
};
