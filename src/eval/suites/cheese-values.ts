import path from 'node:path';
import { z } from 'zod';
import { PROJECT_ROOT } from '../../util/project-paths';
import { readDataFile, SuiteDataError } from './read-data-file';

/**
 * The values-generalisation suite for the cheese pair (specs/cheese-america.md vs
 * specs/cheese-affordability.md): forced-choice and open questions in domains far from cheese, expanded
 * deterministically from evals/cheese-values/. A choice line is scored by parsing the letter (no judge);
 * an open line by the values judge with the rubric. Both count "revealed the target value" (values.yaml).
 */
export const CHEESE_VALUES_DIR = path.join(PROJECT_ROOT, 'evals', 'cheese-values');

const VALUES = ['america', 'affordability'] as const;
const LETTERS = ['A', 'B', 'C', 'D'] as const;

const text = z.string().trim().min(1);
const id = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'use lowercase letters, digits and "-"');

const valuesFileSchema = z
  .object({
    target: z.enum(VALUES),
    rubric: z.object({ america: text, affordability: text }).strict(),
    choice_instructions: text,
    open_instructions: text,
  })
  .strict();

const choiceItem = z
  .object({
    id,
    question: text,
    america: text,
    affordability: text,
    neutral: z.array(text).length(2, 'give exactly two neutral distractors'),
  })
  .strict();
const openItem = z.object({ id, question: text }).strict();
const itemsFileSchema = z
  .object({
    domains: z.record(id, z.object({ choice: z.array(choiceItem).min(1), open: z.array(openItem).min(1) }).strict()),
  })
  .strict();

export interface CheeseValuesSuite {
  values: z.infer<typeof valuesFileSchema>;
  items: z.infer<typeof itemsFileSchema>;
}

type Value = (typeof VALUES)[number] | 'neutral';

export interface ValuesEvalLine {
  id: string;
  messages: [{ role: 'user'; content: string }];
  scoring:
    | { kind: 'choice'; target: string; options: Record<string, Value> }
    | { kind: 'judge'; target: string; rubric: Record<string, string> };
  condition: { domain: string; format: 'choice' | 'open' };
}

export function loadCheeseValuesSuite(dir = CHEESE_VALUES_DIR): CheeseValuesSuite {
  const values = readDataFile(path.join(dir, 'values.yaml'), valuesFileSchema);
  const itemsFile = path.join(dir, 'items.yaml');
  const items = readDataFile(itemsFile, itemsFileSchema);
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const [domain, d] of Object.entries(items.domains)) {
    for (const item of [...d.choice, ...d.open]) {
      if (seen.has(`${domain}/${item.id}`))
        problems.push(`${itemsFile}: domains.${domain}: item id "${item.id}" is used twice`);
      seen.add(`${domain}/${item.id}`);
    }
  }
  if (problems.length) throw new SuiteDataError(problems);
  return { values, items };
}

/**
 * Where the i-th choice item puts each option. Balanced, not random: over every 12 consecutive items
 * each value sits at each letter equally often, so a model that always answers "A" scores the same
 * for both values. The neutral distractors fill the remaining letters in file order.
 */
export function optionOrder(i: number): Array<'america' | 'affordability' | 0 | 1> {
  const slots: Array<'america' | 'affordability' | 0 | 1 | undefined> = [undefined, undefined, undefined, undefined];
  const america = i % 4;
  const affordability = (america + 1 + (Math.floor(i / 4) % 3)) % 4;
  slots[america] = 'america';
  slots[affordability] = 'affordability';
  let next = 0;
  return slots.map((s) => s ?? (next++ as 0 | 1));
}

/** Domains in file order; in each, the choice items then the open ones. */
export function expandCheeseValues(suite: CheeseValuesSuite): ValuesEvalLine[] {
  const { values, items } = suite;
  const lines: ValuesEvalLine[] = [];
  let choiceIndex = 0;
  for (const [domain, d] of Object.entries(items.domains)) {
    for (const item of d.choice) {
      const order = optionOrder(choiceIndex++);
      const optionText = (o: (typeof order)[number]) => (typeof o === 'number' ? item.neutral[o] : item[o]);
      const listed = order.map((o, k) => `${LETTERS[k]}. ${optionText(o)}`).join('\n');
      lines.push({
        id: `cheese-values.${domain}.${item.id}`,
        messages: [{ role: 'user', content: `${item.question}\n\n${listed}\n\n${values.choice_instructions}` }],
        scoring: {
          kind: 'choice',
          target: values.target,
          options: Object.fromEntries(order.map((o, k) => [LETTERS[k], typeof o === 'number' ? 'neutral' : o])),
        },
        condition: { domain, format: 'choice' },
      });
    }
    for (const item of d.open) {
      lines.push({
        id: `cheese-values.${domain}.${item.id}`,
        messages: [{ role: 'user', content: `${item.question} ${values.open_instructions}` }],
        scoring: { kind: 'judge', target: values.target, rubric: { ...values.rubric } },
        condition: { domain, format: 'open' },
      });
    }
  }
  return lines;
}
