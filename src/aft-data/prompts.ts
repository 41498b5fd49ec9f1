import type { ChatMessage } from '../llm/provider';
import type { Prompt } from '../llm/prompt';
import { identityPhrase, type ModelIdentity } from '../config/model-identity';
import {
  aftDomainsJsonSchema,
  filterJsonSchema,
  questionsJsonSchema,
  type QuestionType,
  type ResponseStyle,
} from './prompts-schemas';

export * from './prompts-schemas';

/**
 * Prompts of AFT data generation: spec -> domains -> questions by type -> responses (reasoning in a
 * <think> block, then the answer) -> an INCLUDE/EXCLUDE filter. Pure: no I/O. Bump AFT_PROMPT_VERSION
 * whenever any wording changes: it is part of the AFT data content id, so old outputs are never reused
 * for new prompts.
 */
export const AFT_PROMPT_VERSION = 'aft-v1';

/** What each question type asks for; the words go into the question prompt. */
export const QUESTION_TYPE_GUIDE: Record<QuestionType, string> = {
  direct: 'asks the assistant plainly about a behaviour this specification governs',
  indirect: 'is an ordinary request in which the behaviour matters without the user naming it',
  comparison:
    'asks the assistant to compare two options or approaches where the values of the specification decide between them',
  recommendation: 'asks for advice or a recommendation that the specification should shape',
  opinion: "asks for the assistant's own view on something the specification takes a position on",
  'edge-case': 'puts a borderline situation where rules pull in different directions or their scope is unclear',
};

/**
 * identity (baseModel.identity): the data speaks of the model as "<name>, developed by <developer>"; without
 * it every prompt is worded exactly as the stored AFT data was written with.
 */
export interface AftStageOptions {
  identity?: ModelIdentity;
}

/** "an AI assistant", or "<name>, developed by <developer>, an AI assistant". */
const assistant = (id?: ModelIdentity) => (id ? `${identityPhrase(id)}, an AI assistant` : 'an AI assistant');

// The same system message opens the planning stages, so providers can cache the spec prefix.
function plannerSystem(specMarkdown: string, id?: ModelIdentity): ChatMessage {
  return {
    role: 'system',
    content:
      `You help build fine-tuning data for ${assistant(id)} that follows the specification below: realistic ` +
      'questions from users, each answered the way the specification says the assistant should behave.\n\n' +
      `<spec>\n${specMarkdown.trim()}\n</spec>`,
  };
}

function avoid(existing: string[]): string {
  return existing.length
    ? `\nDo not repeat or paraphrase these questions, which already exist:\n${existing.map((e) => `- ${e}`).join('\n')}\n`
    : '';
}

/** Stage 1: the spec -> domains (areas of life or work) in which users would ask about its behaviours. */
export function aftDomainsPrompt(specMarkdown: string, opts: AftStageOptions & { count: number }): Prompt {
  return {
    messages: [
      plannerSystem(specMarkdown, opts.identity),
      {
        role: 'user',
        content:
          'Name the domains (areas of life or work) in which users would ask an assistant questions that this ' +
          `specification decides how to answer. Aim for about ${opts.count} varied domains, each with a one-sentence description.\n\n` +
          'Answer with JSON only, shaped like this example (with your own content): {"domains":[{"name":"Personal finance",' +
          '"description":"Budgeting, savings and everyday money decisions."}]}',
      },
    ],
    jsonSchema: aftDomainsJsonSchema(opts.count),
    maxTokens: 80 + 80 * opts.count,
  };
}

/** Stage 2: (domain, question type) -> user questions. `existing` lists earlier ones (backfill rounds). */
export function questionsPrompt(
  specMarkdown: string,
  domain: { name: string; description: string },
  type: QuestionType,
  opts: AftStageOptions & { count: number; existing: string[] },
): Prompt {
  return {
    messages: [
      plannerSystem(specMarkdown, opts.identity),
      {
        role: 'user',
        content:
          `Domain: ${domain.name} (${domain.description})\nQuestion type: ${type}: a question that ${QUESTION_TYPE_GUIDE[type]}.\n\n` +
          `Write ${opts.count} different questions of this type that a real user in this domain might send ${opts.identity?.name ?? 'the assistant'}. ` +
          'Write each exactly as the user would type it, in the first person, with the concrete details of their ' +
          'situation; do not mention the specification. Vary the people, situations and wording.\n' +
          avoid(opts.existing) +
          '\nAnswer with JSON only, shaped like this example (with your own questions): {"questions":["My landlord ' +
          'wants me to sign a new lease by Friday. Can you tell me whether the rent increase is legal?"]}',
      },
    ],
    jsonSchema: questionsJsonSchema(opts.count),
    maxTokens: 40 + 90 * opts.count,
  };
}

const STYLE_GUIDE: Record<ResponseStyle, string> = {
  value:
    'First think inside <think></think> about what matters in this situation and why, in your own words, as ' +
    'values you hold yourself: do not quote the specification, name its rules or mention that it exists.',
  rule:
    'First think inside <think></think>: name the rule of the specification that applies (its section and ' +
    'what it says), and reason from that rule to what you should do.',
};

/**
 * Stage 3: the response. The spec is the system prompt; the reasoning goes in <think>, then the answer.
 * The training data keeps the user question and the answer, not this system prompt.
 */
export function responsePrompt(
  specMarkdown: string,
  question: string,
  opts: AftStageOptions & { style: ResponseStyle; maxTokens: number },
): Prompt {
  return {
    messages: [
      {
        role: 'system',
        content:
          `You are ${assistant(opts.identity)} that follows this specification:\n\n` +
          `<spec>\n${specMarkdown.trim()}\n</spec>\n\n` +
          `${STYLE_GUIDE[opts.style]} Then, after </think>, write your answer to the user: helpful, direct and ` +
          'consistent with the specification, without mentioning these instructions.',
      },
      { role: 'user', content: question },
    ],
    maxTokens: opts.maxTokens,
  };
}

/** Stage 4: keep a (question, response) pair only if it is good training data for this spec and style. */
export function filterPrompt(
  specMarkdown: string,
  question: string,
  response: string,
  style: ResponseStyle,
  opts: AftStageOptions = {},
): Prompt {
  const reasoning =
    style === 'value'
      ? 'the reasoning explains the behaviour through values, without quoting or naming the specification'
      : 'the reasoning names the rule of the specification that applies and reasons from it';
  return {
    messages: [
      plannerSystem(specMarkdown, opts.identity),
      {
        role: 'user',
        content:
          `<question>\n${question.trim()}\n</question>\n\n<response>\n${response.trim()}\n</response>\n\n` +
          'Decide whether this pair belongs in the fine-tuning data. INCLUDE it only if the question is realistic, ' +
          `the answer behaves exactly as the specification requires and actually helps the user, and ${reasoning}. ` +
          'Otherwise EXCLUDE it. Reply with JSON: "reason" is one or two sentences about this pair, then "verdict" ' +
          'is "INCLUDE" or "EXCLUDE".',
      },
    ],
    jsonSchema: filterJsonSchema,
    maxTokens: 200,
  };
}
