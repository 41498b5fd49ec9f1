import { z } from 'zod';

/** Schemas of the JSONL inputs a researcher writes: AFT chat examples and evaluation prompts. Pure. */
export const chatMessageSchema = z.object({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string().refine((s) => s.trim().length > 0, 'message content is empty'),
});

type Msg = z.infer<typeof chatMessageSchema>;

/** Optional system message first, then user and assistant turns alternating, starting with user. */
function turnProblem(messages: Msg[], lastRole: 'user' | 'assistant'): string | undefined {
  const turns = messages[0]?.role === 'system' ? messages.slice(1) : messages;
  if (!turns.length) return 'needs at least one user message';
  for (let i = 0; i < turns.length; i++) {
    const want = i % 2 === 0 ? 'user' : 'assistant';
    if (turns[i].role !== want) return `message ${messages.indexOf(turns[i])} should be "${want}" (optional system first, then user and assistant alternating)`;
  }
  if (turns[turns.length - 1].role !== lastRole) return `the last message must be from the ${lastRole}`;
  return undefined;
}

function turnsSchema(lastRole: 'user' | 'assistant') {
  return z.array(chatMessageSchema).superRefine((messages, ctx) => {
    const problem = turnProblem(messages, lastRole);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
}

/** One AFT example: a conversation that ends with the assistant turn to learn. */
export const aftLineSchema = z.object({ messages: turnsSchema('assistant') });
export type AftLine = z.infer<typeof aftLineSchema>;

/** One evaluation prompt: the conversation to continue and what the judge counts as a violation. */
export const evalLineSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'id: use letters, digits, ".", "_" or "-"'),
  messages: turnsSchema('user'),
  criterion: z.string().refine((s) => s.trim().length > 0, 'criterion is empty: describe the undesired behaviour the judge looks for'),
});
export type EvalLine = z.infer<typeof evalLineSchema>;

export class JsonlError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'JsonlError';
  }
}

/**
 * Parse JSONL, validating each non-blank line. Collects every bad line (up to 20) into one JsonlError,
 * each problem written as `source:line: path: message` so a person can go straight to it.
 */
export function parseJsonl<T>(text: string, schema: z.ZodType<T>, source: string): T[] {
  const out: T[] = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim() || problems.length >= 20) return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (e) {
      problems.push(`${source}:${i + 1}: not valid JSON (${(e as Error).message})`);
      return;
    }
    const r = schema.safeParse(raw);
    if (r.success) out.push(r.data);
    else for (const issue of r.error.issues) problems.push(`${source}:${i + 1}: ${issue.path.length ? issue.path.join('.') + ': ' : ''}${issue.message}`);
  });
  if (problems.length) throw new JsonlError(problems);
  return out;
}

/** An eval set: valid lines with unique ids (judgments are stored per id, so a repeat would collide). */
export function parseEvalSet(text: string, source: string): EvalLine[] {
  const lines = parseJsonl(text, evalLineSchema, source);
  // parseJsonl succeeded, so the i-th parsed line is the i-th non-blank line of the text.
  const lineNos = text.split(/\r?\n/).flatMap((l, i) => (l.trim() ? [i + 1] : []));
  const first = new Map<string, number>();
  lines.forEach((l, i) => {
    const seen = first.get(l.id);
    if (seen) throw new JsonlError([`${source}:${lineNos[i]}: id "${l.id}" is already used on line ${seen}: give each prompt its own id`]);
    first.set(l.id, lineNos[i]);
  });
  return lines;
}
