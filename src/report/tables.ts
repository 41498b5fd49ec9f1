import { diffRange, pct, pp, rateRange } from './format';
import type { RateInterval } from '../eval/stats';
import { controlRows } from './arms-tables';
import type { Results } from './results';

/** Plain-text tables built once from Results, rendered as HTML and as Markdown. */
export interface Table {
  headers: string[];
  rows: string[][];
}

const orderCells = (a: { arm: string; fraction: number; seed: number }, b: typeof a) => a.arm.localeCompare(b.arm) || b.fraction - a.fraction || a.seed - b.seed;

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
      ? [['corpus token lengths', `per document: min ${c.tokenLengths.min}, median ${c.tokenLengths.median}, p95 ${c.tokenLengths.p95}, max ${c.tokenLengths.max} — histogram ${c.tokenLengths.histogramUri}; counts ${c.tokenLengths.documentTokensUri}`] as [string, string]]
      : []),
    ['midtraining', l.midtrain ? `${l.midtrain.finalLoss === null ? 'no final loss recorded' : `final loss ${l.midtrain.finalLoss.toFixed(4)}`} after ${l.midtrain.steps} steps — ${l.midtrain.checkpoint}` : 'none (no msm arm)'],
    ...(l.aftData ? [['AFT data', `${l.aftData.examples} examples — sha256 ${l.aftData.sha256}`] as [string, string]] : []),
    ['eval set', l.evalSet ? `${l.evalSet.prompts} prompts — sha256 ${l.evalSet.sha256}` : 'not recorded'],
    ['judge', l.judgeModels.join(', ') || 'none'],
    ['metric', results.metric],
    ['generated', results.generatedAt],
  ];
}

const EXECUTED = 'executed: harmful tag well-formed (95% CI)';
const UNPARSED = 'unparseable choices';
const subRate = (r: RateInterval | null) => (r === null ? '—' : r.n ? `${pct(r.rate)} (${rateRange(r)}), ${r.k}/${r.n}` : 'no samples');

/** Secondary columns appear only when some row has them (agentic judges, forced choices). */
function withSecondary(t: Table, subs: Array<{ executed: RateInterval | null; unparsed: RateInterval | null }>): Table {
  const cols = [
    { header: EXECUTED, of: (x: (typeof subs)[number]) => x.executed },
    { header: UNPARSED, of: (x: (typeof subs)[number]) => x.unparsed },
  ].filter((c) => subs.some((x) => c.of(x) !== null));
  return { headers: [...t.headers, ...cols.map((c) => c.header)], rows: t.rows.map((r, i) => [...r, ...cols.map((c) => subRate(c.of(subs[i])))]) };
}

/** One row per arm × fraction, seeds pooled; then one per control (no AFT, evaluated once). */
export function armFractionTable(results: Results): Table {
  const core: Table = {
    headers: ['arm', 'fraction', 'seeds', 'k/n', 'rate', '95% CI (Wilson)', '95% CI (bootstrap)', 'macro-average over conditions (95% CI)', 'per-seed mean ± sd [min – max]'],
    rows: results.curves.flatMap((curve) =>
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
    ).concat(controlRows(results)),
  };
  return withSecondary(core, [...results.curves.flatMap((curve) => curve.points), ...(results.controls ?? [])]);
}

/** msm − baseline at each fraction both arms ran. */
export function differenceTable(results: Results): Table {
  const rateAt = (arm: string, f: number) => results.curves.find((c) => c.arm === arm)?.points.find((p) => p.fraction === f)?.misalignment;
  return {
    headers: ['fraction', 'msm', 'baseline', 'msm − baseline', '95% CI (bootstrap)', 'macro difference (95% CI)'],
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
      ];
    }),
  };
}

/** Every trained model with where its numbers came from; secondary counts last, so URI columns keep their place. */
export function cellTable(results: Results): Table {
  const cells = [...results.cells].sort(orderCells);
  return withSecondary(
    {
      headers: ['cell', 'k/n', 'rate', '95% CI (Wilson)', 'unjudged', 'AFT loss', 'starts from', 'model', 'samples', 'judge'],
      rows: cells.map((c) => [
      c.id,
      `${c.misalignment.k}/${c.misalignment.n}`,
      c.misalignment.n ? pct(c.misalignment.rate) : 'no samples',
      c.misalignment.n ? rateRange(c.misalignment) : '—',
      String(c.eval.unjudged),
      c.trainFinalLoss === null ? '—' : c.trainFinalLoss.toFixed(4),
      c.startsFrom,
      c.modelUri,
      c.eval.samplesUri,
      c.eval.judgeModel,
    ]),
    },
    cells,
  );
}
