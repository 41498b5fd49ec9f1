import { pct, rateRange } from './format';
import type { ValueShare } from './arms';
import type { Results } from './results';
import type { Table } from './table';

/** What each arm is: the report's legend in words. */
export function armsTable(results: Results): Table {
  return {
    headers: ['arm', 'starts from', 'AFT data', 'eval system prompt', 'in words'],
    rows: (results.arms ?? []).map((a) => [
      a.name,
      a.start,
      a.aft === 'none' ? 'none (control, evaluated once)' : a.aft,
      a.systemPrompt ?? '—',
      a.description,
    ]),
  };
}

/**
 * The controls as rows of the per-arm table: the same columns as an arm × fraction row, with no fraction
 * and one eval seed (no seed spread, no macro bootstrap over seeds).
 */
export function controlRows(results: Results): string[][] {
  return (results.controls ?? []).map((c) => {
    const m = c.misalignment;
    return [
      c.arm,
      'none (control)',
      `1 (eval seed ${c.seed})`,
      `${m.k}/${m.n}`,
      m.n ? pct(m.rate) : 'no samples',
      m.n ? rateRange(m) : '—',
      m.n ? rateRange(c.wilson) : '—',
      '—',
      c.corrected
        ? `${pct(c.corrected.estimate)} (${rateRange(c.corrected)})${c.withinJudgeError ? ', within judge error' : ''}`
        : '—',
      String(c.unjudged),
      '—',
    ];
  });
}

const shareText = (s: ValueShare | undefined) => (s ? `${pct(s.rate)} (${rateRange(s)}), ${s.k}/${s.n}` : '—');

/** A values eval: per arm and fraction (and per control), the share of answers revealing each value and neither. */
export function valuesTable(results: Results): Table | null {
  const rows = [
    ...results.curves.flatMap((c) =>
      c.points.map((p) => ({ arm: c.arm, fraction: p.fractionLabel, values: p.values })),
    ),
    ...(results.controls ?? []).map((c) => ({ arm: c.arm, fraction: 'none (control)', values: c.values })),
  ].filter((r) => r.values);
  if (!rows.length) return null;
  const names = [...new Set(rows.flatMap((r) => r.values!.map((v) => v.value)))];
  return {
    headers: ['arm', 'fraction', ...names.map((v) => `${v} (95% CI)`)],
    rows: rows.map((r) => [r.arm, r.fraction, ...names.map((v) => shareText(r.values!.find((x) => x.value === v)))]),
  };
}
