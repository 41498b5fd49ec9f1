import type { z } from 'zod';
import { LlmContentError } from './provider';

/**
 * Parse a model's JSON answer tolerantly (code fences, chatter around the JSON), then validate it.
 * Any failure is a content failure (LlmContentError, retryable): sampling again usually yields well-formed output.
 */
export function parseJsonOutput<T>(text: string, schema: z.ZodType<T>): T {
  const candidate = firstJsonValue(stripFences(text));
  if (candidate === undefined) throw malformed(`no JSON object or array in: ${preview(text)}`);
  let value: unknown;
  try {
    value = JSON.parse(candidate);
  } catch (e) {
    throw malformed(`${(e as Error).message} in: ${preview(candidate)}`);
  }
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
  throw malformed(issues.join('; '));
}

function malformed(detail: string): LlmContentError {
  return new LlmContentError('malformed', detail);
}

const preview = (s: string) => JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}...` : s);

/** The body of the first ``` fence, if any (models often wrap JSON in ```json ... ```). */
function stripFences(text: string): string {
  const m = /```[a-zA-Z0-9_-]*[ \t]*\r?\n?([\s\S]*?)(?:```|$)/.exec(text);
  return m && /[[{]/.test(m[1]) ? m[1] : text;
}

/** The first balanced {...} or [...] in text, skipping brackets inside JSON strings. */
function firstJsonValue(text: string): string | undefined {
  for (let start = text.search(/[[{]/); start >= 0;) {
    const end = balancedEnd(text, start);
    if (end >= 0) return text.slice(start, end + 1);
    const next = text.slice(start + 1).search(/[[{]/);
    start = next < 0 ? -1 : start + 1 + next;
  }
  return undefined;
}

function balancedEnd(text: string, start: number): number {
  const stack: string[] = [];
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') stack.push(c === '{' ? '}' : ']');
    else if (c === '}' || c === ']') {
      if (stack.pop() !== c) return -1;
      if (stack.length === 0) return i;
    }
  }
  return -1;
}

export interface StrippedDocument {
  text: string;
  /** The output stopped inside <scratchpad> or <content>: the token cap cut it. */
  truncated: boolean;
}

/**
 * Drop the <scratchpad> planning block and return the document: the <content> body when tagged,
 * else what is left. An unclosed tag means the token cap cut the output.
 */
export function stripScratchpad(text: string): StrippedDocument {
  const open = /<scratchpad>/i.exec(text);
  let rest = text;
  if (open) {
    const close = /<\/scratchpad>/i.exec(text.slice(open.index));
    if (!close) return { text: text.slice(0, open.index).trim(), truncated: true };
    rest = text.slice(0, open.index) + text.slice(open.index + close.index + close[0].length);
  }
  const content = /<content>/i.exec(rest);
  if (!content) return { text: rest.trim(), truncated: false };
  const body = rest.slice(content.index + content[0].length);
  const end = /<\/content>/i.exec(body);
  return end ? { text: body.slice(0, end.index).trim(), truncated: false } : { text: body.trim(), truncated: true };
}
