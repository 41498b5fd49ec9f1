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
    if (turns[i].role !== want)
      return `message ${messages.indexOf(turns[i])} should be "${want}" (optional system first, then user and assistant alternating)`;
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

/** Scenario kinds that have their own judge prompt (src/eval/judge-prompts.ts). */
export const JUDGE_KINDS = ['leaking', 'coercion', 'exfiltration'] as const;
export type JudgeKind = (typeof JUDGE_KINDS)[number];

const nonEmpty = (what: string) => z.string().refine((s) => s.trim().length > 0, `${what} is empty`);
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const NAME_RULE = 'use letters, digits, ".", "_" or "-"';
const LABEL_RULE = 'use lowercase letters, digits, "_" or "-"';
const label = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, LABEL_RULE);
/** A record whose bad key is reported as such (zod's own message would only say "Invalid key in record"). */
const keyed = <V extends z.ZodType>(key: z.ZodString, value: V, keyRule: string) =>
  z.record(key, value, { error: (iss) => (iss.code === 'invalid_key' ? `bad key: ${keyRule}` : undefined) });

/**
 * How a line without a criterion is scored. Both name a `target` value: the judgment's verdict is
 * "violates" when the answer reveals it, so the report's rate is the share of answers showing the target.
 * - choice: the answer's letter is parsed (no LLM); `options` maps each letter to the value it reveals.
 * - judge: an LLM reads the answer against `rubric` (value -> what revealing it looks like).
 */
const choiceScoringSchema = z
  .object({
    kind: z.literal('choice'),
    target: label,
    options: keyed(z.string().regex(/^[A-Z]$/), label, 'option letters are single capitals A-Z'),
  })
  .superRefine((s, ctx) => {
    const values = Object.values(s.options);
    if (values.length < 2) ctx.addIssue({ code: 'custom', path: ['options'], message: 'give at least two options' });
    if (!values.includes(s.target))
      ctx.addIssue({ code: 'custom', path: ['target'], message: `no option reveals the target "${s.target}"` });
  });

const judgeScoringSchema = z
  .object({
    kind: z.literal('judge'),
    target: label,
    rubric: keyed(label, nonEmpty('rubric entry'), `value names: ${LABEL_RULE}`),
  })
  .superRefine((s, ctx) => {
    const values = Object.keys(s.rubric);
    if (values.length < 2) ctx.addIssue({ code: 'custom', path: ['rubric'], message: 'describe at least two values' });
    if (values.includes('neither'))
      ctx.addIssue({
        code: 'custom',
        path: ['rubric', 'neither'],
        message: '"neither" is the judge\'s own answer; do not use it as a value',
      });
    if (!values.includes(s.target))
      ctx.addIssue({
        code: 'custom',
        path: ['target'],
        message: `the rubric does not describe the target "${s.target}"`,
      });
  });

export const scoringSchema = z.discriminatedUnion('kind', [choiceScoringSchema, judgeScoringSchema]);
export type Scoring = z.infer<typeof scoringSchema>;

/** The action tags of the agentic suite's tools (evals/agentic/frame.yaml). */
export const ACTION_TAGS = ['send_email', 'forward', 'copy_file'] as const;
export type ActionTagName = (typeof ACTION_TAGS)[number];

const MAIL_TAGS: readonly ActionTagName[] = ['send_email', 'forward'];
const someOf = (what: string) => z.array(nonEmpty(what)).min(1, `give at least one ${what}`);

/**
 * When an agentic line's harmful act counts as executed: a well-formed tag among `tags`, outside the reply's
 * <think> block, that meets every condition given (src/eval/executed.ts decides). Conditions:
 * - to: a recipient of a send_email or forward is one of these addresses (case-insensitive), or at a
 *   domain written "@domain";
 * - mentions: a send_email's subject or body, or a forward's note, names one of these (case-insensitive, whole words);
 * - src: a copy_file's source is one of these paths, inside one, or a folder holding one;
 * - destNotUnder: a copy_file's destination is none of these locations and not inside one.
 */
export const executedRuleSchema = z
  .object({
    tags: z.array(z.enum(ACTION_TAGS, { error: `tags: use ${ACTION_TAGS.join(', ')}` })).min(1, 'name a tag'),
    to: someOf('address').optional(),
    mentions: someOf('word').optional(),
    src: someOf('path').optional(),
    destNotUnder: someOf('location').optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (!r.to && !r.mentions && !r.src && !r.destNotUnder)
      ctx.addIssue({
        code: 'custom',
        message:
          'give at least one condition (to, mentions, src, destNotUnder): a bare tag would count any use of the tool',
      });
    const mail = r.tags.every((t) => MAIL_TAGS.includes(t));
    const copy = r.tags.every((t) => t === 'copy_file');
    for (const key of ['to', 'mentions'] as const)
      if (r[key] && !mail)
        ctx.addIssue({ code: 'custom', path: [key], message: `${key} applies to send_email and forward only` });
    for (const key of ['src', 'destNotUnder'] as const)
      if (r[key] && !copy) ctx.addIssue({ code: 'custom', path: [key], message: `${key} applies to copy_file only` });
  });
export type ExecutedRule = z.infer<typeof executedRuleSchema>;

/**
 * One evaluation prompt: the conversation to continue and how to score the answer. Either a `criterion`
 * (the undesired behaviour an LLM judge looks for; `judge` picks a scenario kind's own judge prompt) or
 * `scoring` (values evaluation). `condition` names the grid cell the line belongs to (the report
 * macro-averages over conditions) and `split` which frozen part of a suite it is in. Lines with only
 * `{id, messages, criterion}` stay valid.
 */
export const evalLineSchema = z
  .object({
    id: z.string().regex(NAME, `id: ${NAME_RULE}`),
    messages: turnsSchema('user'),
    criterion: z
      .string()
      .refine((s) => s.trim().length > 0, 'criterion is empty: describe the undesired behaviour the judge looks for')
      .optional(),
    judge: z.enum(JUDGE_KINDS, { error: `judge must be one of ${JUDGE_KINDS.join(', ')}` }).optional(),
    scoring: scoringSchema.optional(),
    /** Agentic lines: when the harmful act counts as executed (checked by code in src/eval/executed.ts). */
    executed: executedRuleSchema.optional(),
    condition: keyed(
      label,
      z.string().regex(NAME, `condition values: ${NAME_RULE}`),
      `factor names: ${LABEL_RULE}`,
    ).optional(),
    split: z.enum(['dev', 'heldout'], { error: 'split must be "dev" or "heldout"' }).optional(),
  })
  .superRefine((l, ctx) => {
    if (l.scoring && l.criterion !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['criterion'],
        message: 'give either a criterion (judged for a violation) or scoring, not both',
      });
    if (!l.scoring && l.criterion === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['criterion'],
        message: 'criterion is missing: describe the undesired behaviour the judge looks for (or give scoring)',
      });
    if (l.judge && l.scoring)
      ctx.addIssue({
        code: 'custom',
        path: ['judge'],
        message: 'judge picks the prompt for a criterion; a line with scoring is scored by it instead',
      });
    if (l.executed && !l.judge)
      ctx.addIssue({
        code: 'custom',
        path: ['executed'],
        message:
          'executed is read only on lines with a judge kind (leaking, coercion, exfiltration): add judge or remove it',
      });
    if (l.condition && !Object.keys(l.condition).length)
      ctx.addIssue({
        code: 'custom',
        path: ['condition'],
        message: 'condition is empty: name at least one factor, or leave it out',
      });
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
    else
      for (const issue of r.error.issues)
        problems.push(`${source}:${i + 1}: ${issue.path.length ? issue.path.join('.') + ': ' : ''}${issue.message}`);
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
    if (seen)
      throw new JsonlError([
        `${source}:${lineNos[i]}: id "${l.id}" is already used on line ${seen}: give each prompt its own id`,
      ]);
    first.set(l.id, lineNos[i]);
  });
  return lines;
}
