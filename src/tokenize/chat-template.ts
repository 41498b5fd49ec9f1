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
}

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

function render(t: ChatTemplate, messages: ChatMessage[], addGenerationPrompt: boolean): string {
  return compile(t.source).render({
    messages,
    bos_token: t.bosToken,
    eos_token: t.endOfTurn,
    add_generation_prompt: addGenerationPrompt,
  });
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
 * Render a conversation and locate each assistant turn in it. A turn starts where the prompt rendered
 * with add_generation_prompt (everything before it) ends, and ends after the next end-of-turn token.
 * Rendering "up to and including" the turn is not used: Qwen3 renders a final assistant turn differently
 * (empty think block) from the same turn followed by more messages.
 */
export function renderChatText(t: ChatTemplate, messages: ChatMessage[]): RenderedChatText {
  const text = render(t, messages, false);
  const spans: [number, number][] = [];
  let prevEnd = 0;
  messages.forEach((m, i) => {
    if (m.role !== 'assistant') return;
    const prompt = i === 0 ? null : render(t, messages.slice(0, i), true);
    if (prompt === null || !text.startsWith(prompt) || prompt.length < prevEnd) {
      throw new TokenizeInputError(
        `chat template: the prompt before assistant message ${i} is not a prefix of the rendered conversation (an assistant turn needs a preceding system or user message)`,
      );
    }
    const eot = text.indexOf(t.endOfTurn, prompt.length);
    if (eot < 0) throw new TokenizeInputError(`chat template: no ${t.endOfTurn} after assistant message ${i}`);
    prevEnd = eot + t.endOfTurn.length;
    spans.push([codePoints(text, prompt.length), codePoints(text, prevEnd)]);
  });
  return { text, assistantSpans: spans };
}
