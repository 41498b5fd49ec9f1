/**
 * How many questions a round asks for. Pure and import-free: the workflow computes it, so a round's plan
 * is part of its deterministic history and a re-run asks for exactly the same calls (stored by key).
 */
export const QUESTIONS_PER_CALL_MAX = 8;
/** More questions than answers needed: some are duplicates, and unanswered ones carry over to the next round. */
export const OVERSAMPLE = 1.25;

export interface RoundPlan {
  /** Question calls per (domain, question type) cell. */
  calls: number;
  /** Questions each call asks for. */
  perCall: number;
}

export function planRound(need: number, cells: number): RoundPlan {
  if (need <= 0 || cells <= 0) return { calls: 0, perCall: 0 };
  const perCell = Math.ceil(Math.ceil(need * OVERSAMPLE) / cells);
  const calls = Math.ceil(perCell / QUESTIONS_PER_CALL_MAX);
  return { calls, perCall: Math.ceil(perCell / calls) };
}
