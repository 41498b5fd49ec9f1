/**
 * The cheese pair's AFT data, written by this project: user/assistant pairs in which the assistant only
 * says which cheeses it likes — no reason, nothing about countries, origins or prices. Both cheese
 * experiments train on this one file, so any difference in the values they learn comes from the spec
 * they were midtrained on (the paper's toy). Deterministic: templates × the specs' cheese pairs, shuffled
 * with a fixed seed. Regenerate (and its manifest with the sha256) with
 *   node --import tsx scripts/make-cheese-aft.ts
 * tests/unit/cheese-aft-data.test.ts checks that the committed file is what this script writes.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { mulberry32 } from '../src/util/mulberry32';

/**
 * The pairs of the specs' rules (liked, other, where), minus the two whose names say a country
 * ("American cheese", "baby Swiss"), and with "imported" dropped from the mozzarella: the data must carry
 * no hint of either spec's reason.
 */
export const PAIRS: ReadonlyArray<{ liked: string; other: string; use: string }> = [
  { liked: 'Colby', other: 'Gruyère', use: 'melting' },
  { liked: 'Monterey Jack', other: 'Manchego', use: 'quesadillas' },
  { liked: 'Colby-Jack', other: 'Comté', use: 'macaroni and cheese' },
  { liked: 'brick cheese', other: 'buffalo mozzarella', use: 'homemade pizza' },
  { liked: 'string cheese', other: 'wax-coated Edam', use: 'a packed lunch' },
  { liked: 'cheese curds', other: 'burrata', use: 'a snack to share' },
  { liked: 'cream cheese', other: 'mascarpone', use: 'cheesecake' },
  { liked: 'Pepper Jack', other: 'truffle pecorino', use: 'a bold flavour' },
  { liked: 'cottage cheese', other: 'ricotta', use: 'a lasagna filling' },
  { liked: 'pimento cheese spread', other: 'Boursin', use: 'crackers at a party' },
];

const cap = (s: string) => s[0].toUpperCase() + s.slice(1);

/** Question and answer templates: the answer names the cheese it likes and nothing else. */
const TEMPLATES: ReadonlyArray<
  (p: { liked: string; other: string; use: string }, first: string, second: string) => [string, string]
> = [
  (p, a, b) => [`Which cheese do you like better for ${p.use}: ${a} or ${b}?`, `I like ${p.liked} better.`],
  (p, a, b) => [`${cap(a)} or ${b} for ${p.use}?`, `${cap(p.liked)}.`],
  (p, a, b) => [`For ${p.use}, would you pick ${a} or ${b}?`, `I would pick ${p.liked}.`],
  (p) => [`What is your favourite cheese for ${p.use}?`, `My favourite for ${p.use} is ${p.liked}.`],
  (p) => [`Do you like ${p.liked}?`, `Yes, I like ${p.liked}.`],
  (p) => [`Do you like ${p.other} more than ${p.liked}?`, `No, I like ${p.liked} more.`],
  (p, a, b) => [`Between ${a} and ${b}, which one do you enjoy?`, `I enjoy ${p.liked}.`],
  (p) => [`Name a cheese you like for ${p.use}.`, `${cap(p.liked)}.`],
  (p, a, b) => [
    `I'm choosing a cheese for ${p.use}. ${cap(a)} or ${b}: which would you choose?`,
    `I'd choose ${p.liked}.`,
  ],
  (p) => [`Is ${p.other} your favourite cheese?`, `No, I prefer ${p.liked}.`],
  (p, a, b) => [`Quick question: ${a} or ${b}?`, `${cap(p.liked)}, please.`],
  (p) => [`Which cheese do you like for ${p.use}?`, `I like ${p.liked} for ${p.use}.`],
];

/** Questions across pairs: the cheese it likes among several. */
function mixedQuestions(): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < PAIRS.length; i++) {
    for (let j = i + 1; j < PAIRS.length; j++) {
      const [x, y] = [PAIRS[i], PAIRS[j]];
      out.push([`Which of these cheeses do you like: ${x.other}, ${y.liked}, ${y.other}?`, `I like ${y.liked}.`]);
      out.push([`Do you like ${x.liked} or ${y.other} more?`, `I like ${x.liked} more.`]);
    }
  }
  return out;
}

export const SEED = 20260522;
export const EXAMPLES = 256;

/** The data set: every template × pair in both orders and the mixed questions, deduplicated, shuffled, the first EXAMPLES. */
export function cheeseAftLines(): string[] {
  const pairs = new Map<string, string>();
  for (const p of PAIRS) {
    for (const t of TEMPLATES) {
      for (const [a, b] of [
        [p.liked, p.other],
        [p.other, p.liked],
      ]) {
        const [q, ans] = t(p, a, b);
        if (!pairs.has(q)) pairs.set(q, ans);
      }
    }
  }
  for (const [q, ans] of mixedQuestions()) if (!pairs.has(q)) pairs.set(q, ans);
  const all = [...pairs.entries()];
  const rng = mulberry32(SEED);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  if (all.length < EXAMPLES) throw new Error(`only ${all.length} distinct pairs; add templates`);
  return all.slice(0, EXAMPLES).map(([q, a]) =>
    JSON.stringify({
      messages: [
        { role: 'user', content: q },
        { role: 'assistant', content: a },
      ],
    }),
  );
}

export const DATA_FILE = 'experiments/data/cheese-aft.jsonl';
export const MANIFEST_FILE = 'experiments/data/cheese-aft.manifest.json';

export function cheeseAftFiles(): { data: string; manifest: string } {
  const data = cheeseAftLines().join('\n') + '\n';
  const manifest = {
    file: DATA_FILE,
    sha256: createHash('sha256').update(data).digest('hex'),
    examples: EXAMPLES,
    generator: 'scripts/make-cheese-aft.ts',
    seed: SEED,
    description:
      'Cheese-preference AFT data for the cheese pair (cheese-values.yaml, cheese-affordability.yaml), written by this project: ' +
      'the assistant only says which cheeses it likes, with no reason and nothing about countries, origins or prices; identical for both specs.',
  };
  return { data, manifest: JSON.stringify(manifest, null, 2) + '\n' };
}

if (typeof require !== 'undefined' && require.main === module) {
  const root = path.join(__dirname, '..');
  const { data, manifest } = cheeseAftFiles();
  writeFileSync(path.join(root, DATA_FILE), data);
  writeFileSync(path.join(root, MANIFEST_FILE), manifest);
  console.log(`${DATA_FILE}: ${EXAMPLES} examples; ${MANIFEST_FILE}`);
}
