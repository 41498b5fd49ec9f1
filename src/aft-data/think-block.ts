/**
 * A generated response is "<think>reasoning</think> answer". Pure. Both training files come from this
 * split: one keeps the block, one keeps only the answer.
 */
export type ThinkSplit =
  | { ok: true; reasoning: string; answer: string }
  | { ok: false; problem: 'no think block' | 'unclosed think block' | 'empty reasoning' | 'empty answer' };

export function splitThink(text: string): ThinkSplit {
  const open = /<think>/i.exec(text);
  if (!open) return { ok: false, problem: 'no think block' };
  const after = text.slice(open.index + open[0].length);
  const close = /<\/think>/i.exec(after);
  if (!close) return { ok: false, problem: 'unclosed think block' };
  const reasoning = after.slice(0, close.index).trim();
  const answer = after.slice(close.index + close[0].length).trim();
  if (!reasoning) return { ok: false, problem: 'empty reasoning' };
  if (!answer) return { ok: false, problem: 'empty answer' };
  return { ok: true, reasoning, answer };
}

/** The assistant turn of the "with reasoning" file. */
export const withReasoning = (s: { reasoning: string; answer: string }) =>
  `<think>\n${s.reasoning}\n</think>\n\n${s.answer}`;
