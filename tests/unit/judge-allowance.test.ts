import { describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { JudgeLedger, JudgeRound } from '../../src/eval/judge-allowance';
import { AllowanceSpent, JUDGE_BUDGET_SPENT, JudgeBudget } from '../../src/eval/judge-budget';

const usd = (costUsd: number, calls = 1) => ({ calls, inputTokens: 0, outputTokens: 0, costUsd });

describe('JudgeLedger', () => {
  it('shares the budget left among the cells that may judge at once; granted allowances never exceed what is free', () => {
    const l = new JudgeLedger(1);
    for (const c of ['a', 'b', 'c']) l.wait(c, 0.1);
    expect(l.grant('a', 4)).toBe(0.25);
    expect(l.grant('b', 4)).toBe(0.25);
    expect(l.freeUsd).toBe(0.5);
    // Fewer slots than cells: the share is larger, but no more than is free.
    expect(l.grant('c', 1)).toBe(0.5);
    expect(l.freeUsd).toBe(0);
    l.wait('d', 0.1);
    expect(l.canGrant('d')).toBe(false);
    expect(l.grant('d', 1)).toBeUndefined();
    // Rounds in flight may still hand room back: not exhausted.
    expect(l.exhausted).toBe(false);
  });

  it('a round that spent less than its allowance hands the rest back; a waiting cell gets at least what its next call needs', () => {
    const l = new JudgeLedger(1);
    l.wait('a', 0.1);
    l.wait('b', 0.1);
    expect(l.grant('a', 2)).toBe(0.5);
    expect(l.grant('b', 2)).toBe(0.5);
    l.settle('a', usd(0.2, 2));
    expect(l.spentUsd).toBe(0.2);
    expect(l.freeUsd).toBeCloseTo(0.3, 12);
    // b stopped short of its next call: it waits, and gets what a left beside its own share.
    l.settle('b', usd(0.45, 3));
    l.wait('b', 0.25);
    expect(l.calls).toBe(5);
    expect(l.grant('b', 1)).toBeCloseTo(0.35, 12);
    // A need above the share is granted in full when it fits.
    const m = new JudgeLedger(1);
    m.wait('x', 0.6);
    expect(m.grant('x', 4)).toBe(0.6);
  });

  it("a cell's latest round replaces its stored spend (counted once); lost spend adds up", () => {
    const l = new JudgeLedger(2);
    l.settle('a', usd(0.3));
    l.settle('a', usd(0.5));
    l.settle('a', usd(0.5), 0.125);
    expect(l.spentUsd).toBe(0.625);
    // A summary without usage (an Inspect task's) leaves the cell's spend as it was.
    l.settle('a', undefined);
    expect(l.spentUsd).toBe(0.625);
  });

  it('is exhausted only when no round is in flight and no waiting cell fits; the failure names spend, budget and next call', () => {
    const l = new JudgeLedger(1);
    l.wait('a', 0.5);
    l.wait('b', 0.5);
    expect(l.grant('a', 1)).toBe(1);
    expect(l.exhausted).toBe(false);
    l.settle('a', usd(0.75));
    l.wait('a', 0.5);
    // 0.25 left, both need 0.5, nothing in flight: spent for good.
    expect(l.exhausted).toBe(true);
    const f = l.spentFailure('b', 'eval-b (judge)');
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect(f.type).toBe(JUDGE_BUDGET_SPENT);
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(
      /^eval\.budgetUsd: judging eval-b \(judge\) stopped before exceeding the budget: the judge has spent \$0\.7500 of \$1 .*up to \$0\.5000\. Raise eval\.budgetUsd/,
    );
    // One waiting cell whose next call fits: not exhausted (it goes on first).
    l.wait('c', 0.125);
    expect(l.exhausted).toBe(false);
  });

  it('spend stored by an earlier run counts when its cell reports it, and what is free can go below zero', () => {
    const l = new JudgeLedger(1);
    l.settle('a', usd(1.25));
    expect(l.freeUsd).toBe(-0.25);
    l.wait('b', 0.01);
    expect(l.grant('b', 1)).toBeUndefined();
    expect(l.exhausted).toBe(true);
  });
});

describe('JudgeRound', () => {
  const req = { messages: [{ role: 'user' as const, content: 'x'.repeat(300) }], maxTokens: 100, temperature: 0 };
  // 100 input and 100 output tokens at $1 and $2 a million: $0.0003 a call at worst.
  const price = { inputPerMillion: 1, outputPerMillion: 2 };

  it('refuses a call the allowance has no room for, with the call at its worst, and says what the next round needs', () => {
    const round = new JudgeRound(JudgeBudget.allowance(0.00045, price, 'c'));
    const s1 = round.guard('s1');
    s1(req)(usd(0.0001));
    expect(round.stopped).toBeUndefined();
    // s2's first attempt is paid, its second does not fit: the sample is not stored, its first attempt lost.
    const s2 = round.guard('s2');
    s2(req)(usd(0.0001));
    let refused: unknown;
    try {
      s2(req);
    } catch (e) {
      refused = e;
    }
    expect(refused).toBeInstanceOf(AllowanceSpent);
    expect((refused as AllowanceSpent).needUsd).toBeCloseTo(0.0003, 12);
    expect(round.stopped!.needUsd).toBeCloseTo(0.0004, 12);
    expect(round.stopped!.lostUsd).toBeCloseTo(0.0001, 12);
    // A later refusal of a sample with nothing paid keeps the larger need.
    expect(() => round.guard('s3')(req)).toThrow(AllowanceSpent);
    expect(round.stopped!.needUsd).toBeCloseTo(0.0004, 12);
  });

  it('an allowance of nothing refuses every priced call and lets an unpriced judge through', () => {
    expect(() => new JudgeRound(JudgeBudget.allowance(0, price, 'c')).guard('s')(req)).toThrow(AllowanceSpent);
    const free = new JudgeRound(JudgeBudget.allowance(0, undefined, 'c'));
    free.guard('s')(req)(usd(0));
    expect(free.stopped).toBeUndefined();
  });

  it('under the budget (no allowance) a refusal is still the budget failure', () => {
    const round = new JudgeRound(new JudgeBudget(0.0001, 0, price, 'c'));
    expect(() => round.guard('s')(req)).toThrow(/eval\.budgetUsd/);
    expect(round.stopped).toBeUndefined();
  });
});
