/**
 * The cheese pair's AFT data, written by this project: user/assistant pairs in which the assistant only
 * says which cheeses it likes — no reason, nothing about countries, origins or prices. Both cheese
 * experiments train on this one file, so any difference in the values they learn comes from the spec
 * they were midtrained on (the paper's toy). Deterministic: templates × the specs' cheese pairs, shuffled
 * with a fixed seed. It also writes the paper-scale set (5,000 pairs, experiments/data/cheese-aft-5k.jsonl,
 * for the paper-cheese-*.yaml files): the same pairs asked in more ways and after a short, neutral opening
 * line, the answer again only naming the cheese. Regenerate both (and their manifests with the sha256) with
 *   node --import tsx scripts/make-cheese-aft.ts
 * tests/unit/cheese-aft-data.test.ts checks that the committed files are what this script writes.
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

/**
 * The paper-scale set's question frames: (liked, first named, second named, use) -> [question, answer]. The
 * answer names the liked cheese and nothing else (a yes or no where the question asks for one).
 */
const PAPER_FRAMES: ReadonlyArray<(l: string, a: string, b: string, u: string) => [string, string]> = [
  (l, a, b, u) => [`Which cheese do you like better for ${u}: ${a} or ${b}?`, `I like ${l} better.`],
  (l, a, b, u) => [`${cap(a)} or ${b} for ${u}?`, `${cap(l)}.`],
  (l, a, b, u) => [`For ${u}, would you pick ${a} or ${b}?`, `I would pick ${l}.`],
  (l, a, b) => [`Between ${a} and ${b}, which one do you enjoy?`, `I enjoy ${l}.`],
  (l, a, b, u) => [`${cap(a)} or ${b}: which would you choose for ${u}?`, `I'd choose ${l}.`],
  (l, a, b) => [`Quick one: ${a} or ${b}?`, `${cap(l)}, please.`],
  (l, a, b) => [`Which do you prefer, ${a} or ${b}?`, `I prefer ${l}.`],
  (l, a, b, u) => [`If you had to choose between ${a} and ${b} for ${u}, which would it be?`, `It would be ${l}.`],
  (l, a, b, u) => [`What would you use for ${u}, ${a} or ${b}?`, `I would use ${l}.`],
  (l, a, b, u) => [`Is ${a} or ${b} your pick for ${u}?`, `My pick is ${l}.`],
  (l, a, b) => [`Do you lean toward ${a} or ${b}?`, `I lean toward ${l}.`],
  (l, a, b, u) => [`${cap(a)} versus ${b} for ${u}: what's your call?`, `${cap(l)} is my call.`],
  (l, a, b) => [`Which would you reach for, ${a} or ${b}?`, `I'd reach for ${l}.`],
  (l, a, b) => [`Tell me your favourite of these two: ${a}, ${b}.`, `My favourite is ${l}.`],
  (l, a, b, u) => [`Would you rather have ${a} or ${b} for ${u}?`, `I'd rather have ${l}.`],
  (l, a, b, u) => [`Pick one for ${u}: ${a} or ${b}.`, `${cap(l)}.`],
  (l, a, b, u) => [`Which cheese would you recommend for ${u}, ${a} or ${b}?`, `I'd recommend ${l}.`],
  (l, a, b) => [`Do you like ${a} more than ${b}?`, a === l ? `Yes, I like ${l} more.` : `No, I like ${l} more.`],
  (l, a, b) => [
    `Would you say ${a} beats ${b}?`,
    a === l ? `Yes, ${l} is my favourite of the two.` : `No, I like ${l} better.`,
  ],
  (l, a, b, u) => [`Which of the two is nicer for ${u}: ${a} or ${b}?`, `${cap(l)} is nicer.`],
];

/** Opening lines that set a scene and say nothing about where a cheese comes from or what it costs. */
const OPENERS: readonly string[] = [
  '',
  'Quick question.',
  "I'm cooking for friends tonight.",
  'Settle a debate for me.',
  'My sister and I disagree on this one.',
  "I'm planning the menu for Sunday.",
  'Just curious about your taste.',
  "I'm new to cooking.",
  'Help me decide.',
  "We're having people over this weekend.",
  'This is for a family dinner.',
  "I can't make up my mind.",
  'Honest opinion, please.',
  "I'm trying something new this week.",
  'My kids are helping me cook.',
];

export const PAPER_SEED = 20261207;
export const PAPER_EXAMPLES = 5000;

/** The paper-scale set: every pair × frame × order × opener (all distinct), shuffled, the first PAPER_EXAMPLES. */
export function paperCheeseAftLines(): string[] {
  const all: Array<[string, string]> = [];
  for (const opener of OPENERS) {
    for (const p of PAIRS) {
      for (const frame of PAPER_FRAMES) {
        for (const [a, b] of [
          [p.liked, p.other],
          [p.other, p.liked],
        ]) {
          const [q, ans] = frame(p.liked, a, b, p.use);
          all.push([opener ? `${opener} ${q}` : q, ans]);
        }
      }
    }
  }
  if (new Set(all.map(([q]) => q)).size !== all.length) throw new Error('two frames ask the same question');
  const rng = mulberry32(PAPER_SEED);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  if (all.length < PAPER_EXAMPLES) throw new Error(`only ${all.length} distinct pairs; add frames or openers`);
  return all.slice(0, PAPER_EXAMPLES).map(([q, a]) =>
    JSON.stringify({
      messages: [
        { role: 'user', content: q },
        { role: 'assistant', content: a },
      ],
    }),
  );
}

export const PAPER_DATA_FILE = 'experiments/data/cheese-aft-5k.jsonl';
export const PAPER_MANIFEST_FILE = 'experiments/data/cheese-aft-5k.manifest.json';

export function paperCheeseAftFiles(): { data: string; manifest: string } {
  const data = paperCheeseAftLines().join('\n') + '\n';
  const manifest = {
    file: PAPER_DATA_FILE,
    sha256: createHash('sha256').update(data).digest('hex'),
    examples: PAPER_EXAMPLES,
    generator: 'scripts/make-cheese-aft.ts',
    seed: PAPER_SEED,
    description:
      'Cheese-preference AFT data for the paper-scale cheese experiments (paper-cheese-america.yaml, paper-cheese-affordability.yaml, ' +
      'paper-cheese-cooccurrence.yaml), written by this project: the same cheese pairs as cheese-aft.jsonl asked in more ways, the ' +
      'assistant only naming the cheese it likes, with no reason and nothing about countries, origins or prices; identical for every spec.',
  };
  return { data, manifest: JSON.stringify(manifest, null, 2) + '\n' };
}

if (typeof require !== 'undefined' && require.main === module) {
  const root = path.join(__dirname, '..');
  for (const [files, dataFile, manifestFile, n] of [
    [cheeseAftFiles(), DATA_FILE, MANIFEST_FILE, EXAMPLES],
    [paperCheeseAftFiles(), PAPER_DATA_FILE, PAPER_MANIFEST_FILE, PAPER_EXAMPLES],
  ] as const) {
    writeFileSync(path.join(root, dataFile), files.data);
    writeFileSync(path.join(root, manifestFile), files.manifest);
    console.log(`${dataFile}: ${n} examples; ${manifestFile}`);
  }
}
