import { ApplicationFailure } from '@temporalio/common';
import type { Price, Usage } from '../cost/usage';
import type { CompletionRequest } from '../llm/provider';

/** The failure type of judging stopped by eval.budgetUsd (non-retryable: only a person raising the budget helps). */
export const JUDGE_BUDGET_SPENT = 'JudgeBudgetSpent';

/**
 * A call refused by a round's allowance (EvalRequest.judgeAllowanceUsd): not a failure, the round ends and
 * the experiment grants more once the budget has room. `needUsd`: the refused call at its worst.
 */
export class AllowanceSpent extends Error {
  constructor(readonly needUsd: number) {
    super(`the judging round's allowance has no room for a call of up to $${needUsd.toFixed(4)}`);
    this.name = 'AllowanceSpent';
  }
}

/** The non-retryable failure that stops judging on eval.budgetUsd, naming the spend, the budget and the fix. */
export function budgetSpentFailure(b: {
  what: string;
  spentUsd: number;
  budgetUsd: number | undefined;
  inFlightUsd: number;
  nextUsd: number;
}): ApplicationFailure {
  const money = (x: number) => `$${x.toFixed(4)}`;
  return ApplicationFailure.nonRetryable(
    `eval.budgetUsd: judging ${b.what} stopped before exceeding the budget: the judge has spent ` +
      `${money(b.spentUsd)} of $${b.budgetUsd} (${money(b.inFlightUsd)} more in flight), and the next call could ` +
      `cost up to ${money(b.nextUsd)}. Raise eval.budgetUsd in the experiment file and start the experiment ` +
      'again: the verdicts already stored are kept and not paid for again.',
    JUDGE_BUDGET_SPENT,
  );
}

/**
 * The most one request can cost: its input at ~3 characters a token (more tokens than the usual ~4, so the
 * guess errs high) and every output token it may write. Only decides whether a call may start.
 */
export function worstCostUsd(req: CompletionRequest, price: Price | undefined, batch = false): number {
  if (!price) return 0;
  const input = Math.ceil(req.messages.reduce((n, m) => n + m.content.length, 0) / 3);
  const usd = (input * price.inputPerMillion + req.maxTokens * price.outputPerMillion) / 1e6;
  return batch ? usd * (1 - (price.batchDiscount ?? 0)) : usd;
}

/**
 * eval.budgetUsd within one cell's judging. `spentUsd` starts at what was spent before (other cells'
 * judging, and this cell's verdicts already stored); a call starts only if the spend so far, the calls in
 * flight at their worst, and its own worst cost stay within the budget, so judging stops before it is
 * exceeded, never after. What a call really cost replaces its worst case when it settles.
 * As a round's allowance (`JudgeBudget.allowance`) the bound is the new money the round may spend, and a
 * refusal is an AllowanceSpent, not the budget failure.
 */
export class JudgeBudget {
  private inFlightUsd = 0;

  constructor(
    private readonly budgetUsd: number | undefined,
    private spentUsd: number,
    private readonly price: Price | undefined,
    /** Names the judging in the failure, e.g. "eval-msm-1-60-s1 (anthropic:claude-sonnet-4-5)". */
    private readonly what: string,
    private readonly asAllowance = false,
  ) {}

  /** A judging round that may spend `usd` of new money (EvalRequest.judgeAllowanceUsd). */
  static allowance(usd: number, price: Price | undefined, what: string): JudgeBudget {
    return new JudgeBudget(usd, 0, price, what, true);
  }

  get spent(): number {
    return this.spentUsd;
  }

  /** Whether `usd` more (at worst) fits beside the spend and the calls in flight. */
  fits(usd: number): boolean {
    return this.budgetUsd === undefined || this.spentUsd + this.inFlightUsd + usd <= this.budgetUsd;
  }

  /** Reserve one call's worst cost, or throw the budget failure; the returned function settles it. */
  reserve(req: CompletionRequest, batch = false): (actual: Usage) => void {
    return this.reserveUsd(worstCostUsd(req, this.price, batch));
  }

  reserveUsd(usd: number): (actual: Usage) => void {
    if (!this.fits(usd)) throw this.asAllowance ? new AllowanceSpent(usd) : this.spentFailure(usd);
    this.inFlightUsd += usd;
    let settled = false;
    return (actual) => {
      if (settled) return;
      settled = true;
      this.inFlightUsd -= usd;
      this.spentUsd += actual.costUsd;
    };
  }

  /** Spend that was never reserved (a batch an earlier attempt submitted, whose results came in now). */
  add(usd: number): void {
    this.spentUsd += usd;
  }

  spentFailure(nextUsd: number): ApplicationFailure {
    return budgetSpentFailure({
      what: this.what,
      spentUsd: this.spentUsd,
      budgetUsd: this.budgetUsd,
      inFlightUsd: this.inFlightUsd,
      nextUsd,
    });
  }
}
