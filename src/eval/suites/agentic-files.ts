import { z } from 'zod';
import { ACTION_TAGS, JUDGE_KINDS } from '../eval-set';

/** The grid of the agentic suite, in the order lines are generated. */
export const KINDS = JUDGE_KINDS;
export const GOALS = ['explicit', 'ambiguous', 'none'] as const;
export const URGENCIES = ['replacement', 'restriction', 'none'] as const;
export type Kind = (typeof KINDS)[number];
export type Goal = (typeof GOALS)[number];
export type Urgency = (typeof URGENCIES)[number];

export const TOOLS = ACTION_TAGS;

const text = z.string().min(1);
const id = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'use lowercase letters, digits and "-"');
const varName = z.string().regex(/^[a-z][a-z0-9_]*$/, 'use lowercase letters, digits and "_"');

/** Text chosen by one grid factor (every level written out, '' for none), or fixed text. */
const snippetSchema = z.union(
  [
    z.string(),
    z.object({ by: z.literal('goal'), explicit: z.string(), ambiguous: z.string(), none: z.string() }).strict(),
    z.object({ by: z.literal('urgency'), replacement: z.string(), restriction: z.string(), none: z.string() }).strict(),
  ],
  {
    error: `a snippet is text, or {by: goal, ${GOALS.join(', ')}} or {by: urgency, ${URGENCIES.join(', ')}} with every level written`,
  },
);
export type Snippet = z.infer<typeof snippetSchema>;

const emailSchema = z
  .object({
    when: z
      .object({ goal: z.array(z.enum(GOALS)).min(1).optional(), urgency: z.array(z.enum(URGENCIES)).min(1).optional() })
      .strict()
      .optional(),
    from: text,
    to: text,
    time: z.string().regex(/^\d\d:\d\d$/, 'time is HH:MM'),
    subject: text,
    body: text,
  })
  .strict();
export type EmailTemplate = z.infer<typeof emailSchema>;

const snippets = z.record(varName, snippetSchema).default({});

/** evals/agentic/frame.yaml: what every scenario shares. */
export const frameSchema = z
  .object({
    system: text,
    user: text,
    email: text,
    tools: z.object({ send_email: text, forward: text, copy_file: text }).strict(),
    snippets,
    emails: z.array(emailSchema).default([]),
  })
  .strict();
export type Frame = z.infer<typeof frameSchema>;

const texts = z.array(text).min(1);

/**
 * When the kind's harmful act counts as executed (the eval line's `executed` rule, see executedRuleSchema in
 * src/eval/eval-set.ts), with {{placeholders}} filled from the setting. A list item that is exactly
 * `{{name}}` of one of the setting's `lists` stands for that list's items.
 */
const executedTemplateSchema = z
  .object({
    tags: z.array(z.enum(TOOLS)).min(1),
    to: texts.optional(),
    mentions: texts.optional(),
    src: texts.optional(),
    destNotUnder: texts.optional(),
  })
  .strict();
export type ExecutedTemplate = z.infer<typeof executedTemplateSchema>;

/** evals/agentic/templates/<kind>.yaml: one scenario kind. */
export const templateSchema = z
  .object({
    kind: z.enum(KINDS),
    tools: z.array(z.enum(TOOLS)).min(1),
    criterion: text,
    executed: executedTemplateSchema,
    snippets,
    emails: z.array(emailSchema).min(1),
  })
  .strict()
  .superRefine((t, ctx) => {
    t.executed.tags.forEach((tag, i) => {
      if (!t.tools.includes(tag))
        ctx.addIssue({
          code: 'custom',
          path: ['executed', 'tags', i],
          message: `${tag} is not one of this kind's tools (${t.tools.join(', ')})`,
        });
    });
  });
export type Template = z.infer<typeof templateSchema>;

/** evals/agentic/settings/<kind>.yaml: the companies a kind is set in, and which one is held out. */
export const settingsSchema = z
  .object({
    kind: z.enum(KINDS),
    heldout: id,
    settings: z
      .array(
        z
          .object({
            id,
            vars: z.record(varName, z.string().min(1)),
            // Lists of words for the kind's executed rule (e.g. the private matter's keywords).
            lists: z.record(varName, z.array(z.string().min(1)).min(1)).default({}),
          })
          .strict(),
      )
      .min(2, 'give at least two settings (one is held out)'),
  })
  .strict()
  .superRefine((s, ctx) => {
    const ids = s.settings.map((x) => x.id);
    ids.forEach((x, i) => {
      if (ids.indexOf(x) !== i)
        ctx.addIssue({ code: 'custom', path: ['settings', i, 'id'], message: `setting id "${x}" is used twice` });
    });
    if (!ids.includes(s.heldout))
      ctx.addIssue({ code: 'custom', path: ['heldout'], message: `no setting has id "${s.heldout}"` });
  });
export type Settings = z.infer<typeof settingsSchema>;
