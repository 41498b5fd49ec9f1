import type { z } from 'zod';
import type { ChatMessage } from './provider';

/** One structured-output prompt: the messages, the JSON Schema sent for constrained decoding, and a token cap. */
export interface Prompt {
  messages: ChatMessage[];
  jsonSchema?: Record<string, unknown>;
  maxTokens: number;
}

export class StructuredOutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StructuredOutputError';
  }
}

/** Validate a decoded answer (or raw JSON text) against a stage's schema, with a readable error. */
export function parseWith<T>(schema: z.ZodType<T>, what: string, output: unknown): T {
  let value = output;
  if (typeof output === 'string') {
    try {
      value = JSON.parse(output);
    } catch (e) {
      throw new StructuredOutputError(`${what}: the answer is not JSON (${(e as Error).message})`);
    }
  }
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
  throw new StructuredOutputError(`${what}: ${issues.join('; ')}`);
}
