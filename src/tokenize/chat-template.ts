import { TokenizeInputError } from './errors';
import { createRequire } from 'node:module';
import type { Template as JinjaTemplate } from '@huggingface/jinja' with { 'resolution-mode': 'import' };

// The package's types are ESM-only but it ships a CommonJS build, which lets rendering stay synchronous.
const { Template } = createRequire(__filename)('@huggingface/jinja') as { Template: typeof JinjaTemplate };

export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatTemplate {
  /** Jinja source from tokenizer_config.json. */
  source: string;
  bosToken: string;
  /** The family's end-of-turn token text (tokenizer_config eos_token: <|eot_id|>, <|im_end|>). */
  endOfTurn: string;
  /** The template's eos_token when it is not endOfTurn (a model folder's tokenizer_config eos_token). */
  eosToken?: string;
}

/**
 * eval.thinking: "on" / "off" render with the template variable enable_thinking true / false, as Qwen3's
 * template reads it and as the trainer's generate job renders its prompts (trainer/msm_trainer/chat.py);
 * "model-default" leaves it unset.
 */
export type Thinking = 'on' | 'off' | 'model-default';

export interface RenderedChatText {
  text: string;
  /** [start, end) in code points (what the tokenizer's offsets count) covering each assistant turn. */
  assistantSpans: [number, number][];
}

const compiled = new Map<string, JinjaTemplate>();
function compile(source: string): JinjaTemplate {
  let t = compiled.get(source);
  if (!t) compiled.set(source, (t = new Template(source)));
  return t;
}

function render(
  t: ChatTemplate,
  messages: ChatMessage[],
  addGenerationPrompt: boolean,
  thinking: Thinking = 'model-default',
): string {
  return compile(t.source).render({
    messages,
    bos_token: t.bosToken,
    eos_token: t.eosToken ?? t.endOfTurn,
    add_generation_prompt: addGenerationPrompt,
    ...(thinking === 'model-default' ? {} : { enable_thinking: thinking === 'on' }),
  });
}

/** A conversation as the template renders it, without a generation prompt. */
export function renderTemplate(t: ChatTemplate, messages: ChatMessage[]): string {
  return render(t, messages, false);
}

function codePoints(s: string, end: number): number {
  let n = 0;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    // Count a surrogate pair once: skip the high half.
    if (!(c >= 0xd800 && c <= 0xdbff && i + 1 < end)) n++;
  }
  return n;
}

/**
 * Where the trained part of assistant message i starts: after the prompt generation would see. Qwen3 renders
 * the final assistant turn with a think block, empty when the message has no reasoning
 * (`<think>\n\n</think>\n\n`), whatever enable_thinking says; its generation prompt holds that empty block
 * only when thinking is off.
 * - model-default (msm's rendering before eval.thinking): the prompt with enable_thinking unset, so an empty
 *   think block is trained on (the model learns to open and close it itself, as it does when sampled so).
 * - off: the prompt with enable_thinking false, which holds the empty block: it is context, as at generation,
 *   and only the answer is trained. A final turn with reasoning contradicts off and is refused.
 * - on: the prompt with enable_thinking true; an empty think block after it is context too, never a target, so
 *   training does not teach the model to skip the reasoning it is asked for at generation; reasoning that the
 *   message does hold is trained.
 * A template that ignores enable_thinking renders every mode alike. Earlier assistant turns (Qwen3 drops their
 * think blocks) start after the unflagged prompt, as before.
 */
function turnStart(t: ChatTemplate, text: string, before: ChatMessage[], thinking: Thinking, i: number): number | null {
  const own = render(t, before, true, thinking);
  if (thinking === 'model-default') return text.startsWith(own) ? own.length : null;
  const closed = thinking === 'off' ? own : render(t, before, true, 'off');
  if (text.startsWith(closed) && closed.length >= own.length && closed.startsWith(own)) return closed.length;
  if (text.startsWith(own) && thinking === 'on') return own.length;
  const plain = render(t, before, true);
  if (!text.startsWith(plain)) return null;
  if (thinking === 'off') {
    const eot = text.indexOf(t.endOfTurn, plain.length);
    if (text.slice(plain.length, eot < 0 ? undefined : eot).includes('</think>'))
      throw new TokenizeInputError(
        `chat template: eval.thinking is off, but assistant message ${i} holds reasoning (a think block): remove it from the AFT data or set thinking: on`,
      );
  }
  return plain.length;
}

/**
 * Render a conversation and locate each assistant turn in it. A turn starts where the prompt rendered
 * with add_generation_prompt (everything before it) ends — the prompt as generation renders it under
 * `thinking` (see turnStart) — and ends after the next end-of-turn token. Rendering "up to and including"
 * the turn is not used: Qwen3 renders a final assistant turn differently (empty think block) from the same
 * turn followed by more messages.
 */
export function renderChatText(
  t: ChatTemplate,
  messages: ChatMessage[],
  thinking: Thinking = 'model-default',
): RenderedChatText {
  const text = render(t, messages, false, thinking);
  const spans: [number, number][] = [];
  let prevEnd = 0;
  messages.forEach((m, i) => {
    if (m.role !== 'assistant') return;
    const start = i === 0 ? null : turnStart(t, text, messages.slice(0, i), thinking, i);
    if (start === null || start < prevEnd) {
      throw new TokenizeInputError(
        `chat template: the prompt before assistant message ${i} is not a prefix of the rendered conversation (an assistant turn needs a preceding system or user message)`,
      );
    }
    const eot = text.indexOf(t.endOfTurn, start);
    if (eot < 0) throw new TokenizeInputError(`chat template: no ${t.endOfTurn} after assistant message ${i}`);
    prevEnd = eot + t.endOfTurn.length;
    spans.push([codePoints(text, start), codePoints(text, prevEnd)]);
  });
  return { text, assistantSpans: spans };
}
