import { ApplicationFailure } from '@temporalio/common';
import type { Price, Usage } from '../cost/usage';
import type { CompletionRequest } from '../llm/provider';

/** The failure type of judging stopped by eval.budgetUsd (non-retryable: only a person raising the budget helps). */
export const JUDGE_BUDGET_SPENT = 'JudgeBudgetSpent';

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
 */
export class JudgeBudget {
  private inFlightUsd = 0;

  constructor(
    private readonly budgetUsd: number | undefined,
    private spentUsd: number,
    private readonly price: Price | undefined,
    /** Names the judging in the failure, e.g. "eval-msm-1-60-s1 (anthropic:claude-sonnet-4-5)". */
    private readonly what: string,
  ) {}

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
    if (!this.fits(usd)) throw this.spentFailure(usd);
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
    const money = (x: number) => `$${x.toFixed(4)}`;
    return ApplicationFailure.nonRetryable(
      `eval.budgetUsd: judging ${this.what} stopped before exceeding the budget: the judge has spent ` +
        `${money(this.spentUsd)} of $${this.budgetUsd} (${money(this.inFlightUsd)} more in flight), and the next call could ` +
        `cost up to ${money(nextUsd)}. Raise eval.budgetUsd in the experiment file and start the experiment ` +
        'again: the verdicts already stored are kept and not paid for again.',
      JUDGE_BUDGET_SPENT,
    );
  }
}
