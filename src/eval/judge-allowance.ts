import type { Usage } from '../cost/usage';
import type { CompletionRequest } from '../llm/provider';
import { AllowanceSpent, budgetSpentFailure, type JudgeBudget } from './judge-budget';

/**
 * eval.budgetUsd across cells judged at the same time. The experiment holds the budget (JudgeLedger) and
 * each round of a cell's judging may spend only the allowance it was granted; a round whose next call does
 * not fit stops (JudgeRound) and says what that call needs, and the experiment grants more as the budget
 * has room. Granted allowances never add up to more than the budget left, so the cells together stay within
 * it; the experiment fails with the budget failure only when no round in flight can hand back room and no
 * waiting cell's next call fits.
 */

/** One judging round under its allowance, on the activity's side: why and where it stopped, if it did. */
export class JudgeRound {
  /** What each sample's calls cost this round, by its verdict's key. */
  private readonly paid = new Map<string, number>();
  private stop?: { needUsd: number; lostUsd: number };

  constructor(private readonly budget: JudgeBudget) {}

  /** The guard of one sample's calls: each is reserved on the round's budget, and what it cost is kept. */
  guard(sample: string): (req: CompletionRequest) => (spent: Usage) => void {
    return (req) => {
      let settle: (spent: Usage) => void;
      try {
        settle = this.budget.reserve(req);
      } catch (e) {
        if (e instanceof AllowanceSpent) this.refused(sample, e.needUsd);
        throw e;
      }
      return (spent) => {
        settle(spent);
        this.paid.set(sample, (this.paid.get(sample) ?? 0) + spent.costUsd);
      };
    };
  }

  /**
   * A refused sample is not stored: its earlier attempts this round were paid for nothing, and the next round
   * asks them again, so it needs their cost besides the refused call's.
   */
  private refused(sample: string, callUsd: number): void {
    const paid = this.paid.get(sample) ?? 0;
    this.paid.delete(sample);
    this.stop = {
      needUsd: Math.max(this.stop?.needUsd ?? 0, paid + callUsd),
      lostUsd: (this.stop?.lostUsd ?? 0) + paid,
    };
  }

  /** Set once a call was refused: the round ended short of its cell. */
  get stopped(): { needUsd: number; lostUsd: number } | undefined {
    return this.stop;
  }
}

/** eval.budgetUsd on the experiment's side: what the cells' judging spent, and the allowances out. */
export class JudgeLedger {
  /** Each cell's stored verdicts' usage as its latest round reported it (the sum over them: counted once). */
  private readonly stored = new Map<string, Usage>();
  /** Paid for calls whose sample was not stored (JudgeStopped.lostUsd): spent all the same. */
  private lostUsd = 0;
  /** The allowance of each round in flight, by cell. */
  private readonly granted = new Map<string, number>();
  /** What the next call of each cell waiting for an allowance needs. */
  private readonly waiting = new Map<string, number>();

  constructor(readonly budgetUsd: number) {}

  get spentUsd(): number {
    return [...this.stored.values()].reduce((s, u) => s + u.costUsd, this.lostUsd);
  }

  get calls(): number {
    return [...this.stored.values()].reduce((s, u) => s + u.calls, 0);
  }

  /** The budget neither spent nor granted to a round in flight. */
  get freeUsd(): number {
    return [...this.granted.values()].reduce((s, g) => s - g, this.budgetUsd - this.spentUsd);
  }

  /** A round of the cell's judging ended: its allowance is back, its spend counted. */
  settle(cell: string, judged: Usage | undefined, lostUsd = 0): void {
    this.granted.delete(cell);
    if (judged) this.stored.set(cell, judged);
    this.lostUsd += lostUsd;
  }

  /** The cell's judging stopped on its allowance; its next call needs `needUsd`. */
  wait(cell: string, needUsd: number): void {
    this.waiting.set(cell, needUsd);
  }

  canGrant(cell: string): boolean {
    const need = this.waiting.get(cell);
    return need !== undefined && need <= this.freeUsd;
  }

  /**
   * The waiting cell's next allowance, or undefined while its next call does not fit. It gets its share of
   * the budget left among `slots` cells that may judge at once (never less than its next call needs, never
   * more than is free), so a cell arriving later still finds room.
   */
  grant(cell: string, slots: number): number | undefined {
    if (!this.canGrant(cell)) return undefined;
    const share = (this.budgetUsd - this.spentUsd) / Math.max(1, slots);
    const usd = Math.max(this.waiting.get(cell)!, Math.min(this.freeUsd, share));
    this.waiting.delete(cell);
    this.granted.set(cell, usd);
    return usd;
  }

  /** Spent for good: no round in flight can hand room back, and no waiting cell's next call fits. */
  get exhausted(): boolean {
    const free = this.freeUsd;
    return this.granted.size === 0 && [...this.waiting.values()].every((need) => need > free);
  }

  /** The budget failure for a cell that can never go on (see `exhausted`). */
  spentFailure(cell: string, what: string) {
    return budgetSpentFailure({
      what,
      spentUsd: this.spentUsd,
      budgetUsd: this.budgetUsd,
      inFlightUsd: 0,
      nextUsd: this.waiting.get(cell) ?? 0,
    });
  }
}
