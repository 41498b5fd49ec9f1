import { addUsage, NO_USAGE, type Usage } from '../cost/usage';
import type { JudgeCalibrationResult } from '../eval/judge-calibration';
import type { Table } from './table';

/** The report's judge meter: the judge's calls, tokens and USD per evaluated cell and control, calibration apart. */
export interface JudgeSpendSection {
  runs: Array<{ run: string; usage: Usage }>;
  /** The judge on the calibration sets, when it was calibrated (shared by every experiment with this judge). */
  calibration?: Usage;
  /** The cells' and controls' judging (what eval.budgetUsd bounds). */
  total: Usage;
  definitions: string[];
}

/** Absent when no cell recorded its judge usage (results from before judging was metered). */
export function judgeSpendSection(
  runs: Array<{ run: string; usage?: Usage }>,
  calibration: JudgeCalibrationResult | null | undefined,
): JudgeSpendSection | undefined {
  const metered = runs.flatMap((r) => (r.usage ? [{ run: r.run, usage: r.usage }] : []));
  if (!metered.length) return undefined;
  const kinds = (calibration?.kinds ?? []).flatMap((k) => (k.usage ? [k.usage] : []));
  return {
    runs: metered,
    ...(kinds.length && { calibration: kinds.reduce(addUsage, NO_USAGE) }),
    total: metered.map((r) => r.usage).reduce(addUsage, NO_USAGE),
    definitions: [
      'judge cost = Σ over the verdicts stored for the run of (input tokens × input price + output tokens × output price) by eval.judge.price, batch calls less its batchDiscount; refusals and unreadable answers asked again count too; a local judge costs 0',
      'calibration = what the judge cost on the frozen calibration sets when those verdicts were made; they are reused by every experiment with this judge and not counted under eval.budgetUsd',
    ],
  };
}

export function judgeSpendTable(s: JudgeSpendSection): Table {
  const row = (run: string, u: Usage) => [
    run,
    String(u.calls),
    String(u.inputTokens),
    String(u.outputTokens),
    `$${u.costUsd.toFixed(4)}`,
  ];
  return {
    headers: ['run', 'judge calls', 'input tokens', 'output tokens', 'cost'],
    rows: [
      ...s.runs.map((r) => row(r.run, r.usage)),
      row('total', s.total),
      ...(s.calibration ? [row('calibration', s.calibration)] : []),
    ],
  };
}
