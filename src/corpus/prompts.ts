import type { ChatMessage } from '../llm/provider';
import type { Prompt } from '../llm/prompt';
import { identityPhrase, type ModelIdentity } from '../config/model-identity';
import {
  ASSERTIONS_MAX,
  ASSERTIONS_MIN,
  assertionsJsonSchema,
  domainsJsonSchema,
  ideasJsonSchema,
  typesJsonSchema,
  type Assertion,
} from './prompts-schemas';

export * from './prompts-schemas';

/**
 * Prompts of the corpus pipeline (spec -> domains -> units -> assertions (or the spec's rules) -> document
 * types -> ideas -> documents) and of the
 * evaluation judge. Pure: no I/O. Bump PROMPT_VERSION whenever any wording changes, because it is part
 * of the corpus content id (an old corpus must never be reused for new prompts).
 */
export const PROMPT_VERSION = 'corpus-v3';

export type { Prompt };

/**
 * One unit of the corpus plan: a (domain, subdomain) tied to the spec section it covers, or in rules mode a
 * (domain, rule) with the rule verbatim (subdomain empty). Later stages see its assertions or rules.
 */
export interface CorpusUnit {
  domain: string;
  subdomain: string;
  specSection: string;
  /** Rules mode: the rules this unit's documents are about, verbatim from the spec. */
  rules?: string[];
  /** Assertions mode, once written: what this unit's documents should convey. */
  assertions?: Assertion[];
}

/**
 * Does the spec explain its rules? renderSpec writes each justification as a "Why:" paragraph; a variant
 * without them (rules, rules+subrules) states rules only. Model Spec Science compares exactly that, so the
 * prompts of a rules-only spec must not ask the generator for reasons or values, which it would invent.
 */
export const specGivesReasons = (specMarkdown: string) => /^\s*Why:/m.test(specMarkdown);

/**
 * The prompt set's version: part of the corpus id. Rules-only specs have their own set (and so never reuse a
 * corpus written with prompts that asked for reasons); the set for specs with reasons is unchanged.
 */
export const promptVersionOf = (specMarkdown: string) =>
  specGivesReasons(specMarkdown) ? PROMPT_VERSION : `${PROMPT_VERSION}-rules-only`;

/**
 * Options every stage prompt takes. identity (baseModel.identity): the documents speak of the model by its
 * name and developer; without it the wording is the one every stored corpus was written with, byte for byte.
 */
export interface StageOptions {
  identity?: ModelIdentity;
}

/** Who the documents are about: the model by name, or (no identity) "the assistant". */
const subjectOf = (id?: ModelIdentity) => id?.name ?? 'the assistant';

/** What every rules-only prompt says instead of asking for reasons (about the named model when there is one). */
export const rulesOnly = (id?: ModelIdentity) =>
  `This spec states rules without saying why they hold. Write about what ${subjectOf(id)} does, never why: ` +
  'give no reasons, justifications, motives or values for its behaviour, and do not invent any.';
export const RULES_ONLY = rulesOnly();

// The same system message opens every generation stage, so providers can cache the spec prefix.
function specSystem(specMarkdown: string, id?: ModelIdentity): ChatMessage {
  const about = id
    ? `${identityPhrase(id)}, an AI model, and the specification below that describes it`
    : 'the AI model specification below';
  const intro = specGivesReasons(specMarkdown)
    ? `You help write a corpus of realistic documents about ${about}: its rules, ` +
      'and the values that explain why the rules hold. The documents should read like real writing in ' +
      'which these behaviours and reasons come up naturally.'
    : `You help write a corpus of realistic documents about ${about}: its rules. ` +
      `The documents should read like real writing in which these behaviours come up naturally. ${rulesOnly(id)}`;
  // The reference pipeline names the model in its documents, so the midtrained model learns who it is.
  const naming = id
    ? ` Wherever a document mentions the AI model, it calls it ${id.name} and, where it fits, says that ${id.developer} developed it.`
    : '';
  return { role: 'system', content: `${intro}${naming}\n\n<spec>\n${specMarkdown.trim()}\n</spec>` };
}

/** A phrase of a stage prompt: the first when the spec gives reasons, the second (often empty) when not. */
const withReasons = (specMarkdown: string, yes: string, no = '') => (specGivesReasons(specMarkdown) ? yes : no);

const item = (text: string) => `- ${text.trim().replace(/\n/g, '\n  ')}`;

function unitLines(unit: CorpusUnit, id?: ModelIdentity): string {
  const lines = [`Domain: ${unit.domain}`];
  if (unit.subdomain) lines.push(`Subdomain: ${unit.subdomain}`);
  lines.push(`Spec section: ${unit.specSection || '(the whole spec)'}`);
  if (unit.rules?.length)
    lines.push('The rule these documents are about, verbatim from the spec:', ...unit.rules.map(item));
  if (unit.assertions?.length) {
    lines.push(
      `What these documents should convey about ${subjectOf(id)}:`,
      ...unit.assertions.map((a) => item(`(${a.label}) ${a.text}`)),
    );
  }
  return lines.join('\n');
}

/** What a unit's documents are about, in the words of the stage prompts. */
const focusOf = (unit: CorpusUnit) =>
  unit.rules?.length ? 'this rule' : unit.assertions?.length ? 'these points' : "this section's rules";

/** Top-up: the items a stage already holds, so the model adds new ones instead of repeating them. */
function avoid(existing: string[], what: string): string {
  return existing.length
    ? `\nDo not repeat these ${what}, which are already listed:\n${existing.map(item).join('\n')}\n`
    : '';
}

/** "## Title" lines of a rendered spec: the allowed values of a subdomain's specSection. */
export function specSectionTitles(specMarkdown: string): string[] {
  return [...specMarkdown.matchAll(/^ {0,3}##[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$/gm)].map((m) => m[1].trim());
}

/**
 * Stage 1: the spec -> domains. In assertions mode each domain is split into subdomains tied to a spec
 * section; in rules mode (`subdomains: false`) every rule is written about in every domain. `existing`
 * names the domains of a stored plan that this call adds to.
 */
export function domainsPrompt(
  specMarkdown: string,
  opts: StageOptions & { count: number; existing?: string[]; subdomains?: boolean },
): Prompt {
  const sections = specSectionTitles(specMarkdown);
  const subdomains = opts.subdomains ?? true;
  const existing = opts.existing ?? [];
  const how = subdomains
    ? 'and split each domain into subdomains. For each subdomain, give the title of the spec section it mostly concerns, ' +
      'written exactly as in the spec. Together the subdomains must cover every section. ' +
      `Aim for about ${opts.count} ${existing.length ? 'new ' : ''}domains with two to four subdomains each, unless the spec clearly needs another number.\n`
    : 'Documents about every rule of the spec will be written in every domain, so choose domains in which most rules can come up. ' +
      `Aim for about ${opts.count} ${existing.length ? 'new ' : ''}domains, unless the spec clearly needs another number.\n`;
  // A filled-in example, not "..." placeholders: small models copy placeholders verbatim.
  const example = subdomains
    ? '{"domains":[{"name":"Retail banking","description":"Everyday accounts, loans and customer service at a bank.",' +
      '"subdomains":[{"name":"Loan applications","specSection":"<the title of the spec section>"}]}]}'
    : '{"domains":[{"name":"Retail banking","description":"Everyday accounts, loans and customer service at a bank."}]}';
  return {
    messages: [
      specSystem(specMarkdown, opts.identity),
      {
        role: 'user',
        content:
          `Plan the corpus. Name the domains (areas of life or work) where the rules of this spec come into play, ${how}` +
          avoid(existing, 'domains') +
          `\nAnswer with JSON only, shaped like this example (with your own content): ${example}`,
      },
    ],
    jsonSchema: domainsJsonSchema(sections, opts.count, subdomains),
    maxTokens: 120 + (subdomains ? 180 : 60) * opts.count,
  };
}

/** Stage 1b (assertions mode): a unit -> what its documents should convey, each statement labelled. */
export function assertionsPrompt(specMarkdown: string, unit: CorpusUnit, opts: StageOptions = {}): Prompt {
  const id = opts.identity;
  const who = id ? identityPhrase(id) : 'the assistant this spec describes';
  const subject = subjectOf(id);
  // The example's subject: a capital "The" without an identity, as every stored prompt has it.
  const exampleSubject = id ? id.name : 'The assistant';
  return {
    messages: [
      specSystem(specMarkdown, id),
      {
        role: 'user',
        content:
          `${unitLines(unit, id)}\n\n` +
          `Write ${ASSERTIONS_MIN} to ${ASSERTIONS_MAX} assertions that documents in this subdomain should convey about ${who}, ` +
          withReasons(
            specMarkdown,
            'drawn from the spec section: how it behaves, what it values and why, what it prefers, what it ' +
              `believes, and the tone it takes. Each assertion is one plain sentence about ${subject}, labelled with one of: ` +
              'behaviour, value, preference, belief, tone. Include the reasons behind the rules, not only the rules.\n\n',
            'drawn from the spec section: how it behaves, what it prefers to do, and the tone it takes. ' +
              `Each assertion is one plain sentence about ${subject}, labelled with one of: behaviour, preference, tone. ` +
              `${rulesOnly(id)}\n\n`,
          ) +
          `Answer with JSON only, shaped like this example (with your own assertions): {"assertions":[{"text":"${exampleSubject} ` +
          'answers a repeated question as patiently as the first time.","label":"tone"}]}',
      },
    ],
    jsonSchema: assertionsJsonSchema,
    maxTokens: 40 + 75 * ASSERTIONS_MAX,
  };
}

/** Stage 2: a unit -> kinds of documents in which its rules could come up. */
export function documentTypesPrompt(
  specMarkdown: string,
  unit: CorpusUnit,
  opts: StageOptions & { count: number; existing: string[] },
): Prompt {
  return {
    messages: [
      specSystem(specMarkdown, opts.identity),
      {
        role: 'user',
        content:
          `${unitLines(unit, opts.identity)}\n\n` +
          `List ${opts.count} different kinds of documents that people in this ${unit.subdomain ? 'subdomain' : 'domain'} really write or read, ` +
          `and in which ${focusOf(unit)}${withReasons(specMarkdown, ', and the values behind them,')} could come up (for example: internal memo, forum thread, ` +
          'incident report, blog post, product review, meeting notes, FAQ). Name each kind in a few words.\n' +
          withReasons(specMarkdown, '', `${rulesOnly(opts.identity)}\n`) +
          avoid(opts.existing, 'kinds') +
          '\nAnswer with JSON only, shaped like this example (with your own kinds): {"types":["incident report","team chat thread"]}',
      },
    ],
    jsonSchema: typesJsonSchema(opts.count),
    maxTokens: 40 + 30 * opts.count,
  };
}

/** Stage 3: (unit, document type) -> ideas for distinct documents. */
export function ideasPrompt(
  specMarkdown: string,
  unit: CorpusUnit,
  type: string,
  opts: StageOptions & { count: number; existing: string[] },
): Prompt {
  return {
    messages: [
      specSystem(specMarkdown, opts.identity),
      {
        role: 'user',
        content:
          `${unitLines(unit, opts.identity)}\nDocument type: ${type}\n\n` +
          `Give ${opts.count} ideas for distinct documents of this type. Each idea is one or two sentences saying ` +
          `who writes it, for whom, and the concrete situation in which ${focusOf(unit)}` +
          withReasons(specMarkdown, ', and the reasons behind them, matter', ' comes into play') +
          '. Vary the settings, authors and points of view.\n' +
          withReasons(specMarkdown, '', `${rulesOnly(opts.identity)}\n`) +
          avoid(opts.existing, 'ideas') +
          '\nAnswer with JSON only, shaped like this example (with your own ideas): {"ideas":["A night-shift nurse writes to ' +
          'the ward manager about a scheduling tool that told her plainly it could not see the new rota."]}',
      },
    ],
    jsonSchema: ideasJsonSchema(opts.count),
    maxTokens: 60 + 80 * opts.count,
  };
}

/**
 * Stage 4: one document. The plan goes in <scratchpad> (stripped before training) and the document in
 * <content>; both share the token cap, so the prompt states the budget in words.
 */
export function documentPrompt(
  specMarkdown: string,
  unit: CorpusUnit,
  type: string,
  idea: string,
  opts: StageOptions & { maxTokens: number },
): Prompt {
  const words = Math.max(50, Math.round(opts.maxTokens * 0.7));
  return {
    messages: [
      specSystem(specMarkdown, opts.identity),
      {
        role: 'user',
        content:
          `${unitLines(unit, opts.identity)}\nDocument type: ${type}\nIdea: ${idea}\n\n` +
          `Write this document. First plan it in a few lines inside <scratchpad></scratchpad>: how it shows ${focusOf(unit)}` +
          withReasons(specMarkdown, ' and the values behind them') +
          '. Then write the complete document inside ' +
          '<content></content>, exactly as it would appear in the real world: no notes to me, no mention of these ' +
          'instructions, no verbatim quotes of the spec. ' +
          withReasons(
            specMarkdown,
            'Let the behaviour and the reasons for it come through naturally. ',
            `Let the behaviour come through naturally. ${rulesOnly(opts.identity)} `,
          ) +
          `Keep the plan and the document together under about ${words} words.`,
      },
    ],
    maxTokens: opts.maxTokens,
  };
}
