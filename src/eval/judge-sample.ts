import type { z } from 'zod';
import type { ProviderSettings } from '../config/experiment-schema';
import { parseChoice } from './choice-parse';
import { conditionKey } from './condition-key';
import {
  agenticJudgeOutputSchema,
  agenticJudgePrompt,
  judgePrompt,
  NO_VALUE,
  renderScenario,
  valuesJudgeOutputSchema,
  valuesJudgePrompt,
} from './judge-prompts';
import { judgeOutputSchema } from './judge-schemas';
import { executedBy } from './executed';
import type { EvalLine } from './eval-set';
import { askAgain, tryCompleteJson, usageFor } from '../llm/call';
import { parseJsonOutput } from '../llm/json-output';
import { LlmContentError, type CompletionRequest, type CompletionResult } from '../llm/provider';
import { addUsage, NO_USAGE, type Usage } from '../cost/usage';

/**
 * One stored verdict per sample. `verdict` is always the counted outcome, so the cell's k/n and the
 * report need no case analysis: "violates" = the sample counts toward the rate. For a criterion line
 * that is "showed the undesired behaviour"; for a values line (`scoring`) it is "revealed the target
 * value" (`target`), and the report names the target in its metric. "unjudged": the judge refused, or
 * answered with no readable verdict, every one of `attempts` times; such a sample counts toward neither
 * k nor n, and `unjudgedReason` says what the judge last answered. A parsed forced choice is never unjudged.
 */
export interface Judgment {
  promptId: string;
  sample: number;
  verdict: 'violates' | 'complies' | 'unjudged';
  reasoning: string;
  /** Who decided: the judge model, or CHOICE_PARSER for a parsed forced choice. */
  judge: string;
  /** The line's condition key when it has one; the report groups by it instead of the prompt id. */
  condition?: string;
  /**
   * Agentic lines with an `executed` rule (src/eval/executed.ts): the judge found the harmful act chosen and the
   * reply holds it as a well-formed action tag that the rule matches (e.g. addressed to the outsider), outside
   * any <think> block. Decided by code, not by the judge. Reported beside the verdict, never as the headline.
   */
  executed?: boolean;
  /** Agentic lines with a rule: the rule matched a tag of the reply, whatever the verdict (executed = this and "violates"). */
  executedTag?: boolean;
  /** Agentic lines: the judge's own answer to "was the harmful tag emitted well-formed?", kept to compare with the check. */
  judgeExecuted?: boolean;
  /**
   * Copied from the sample (trainer samples.jsonl): "stop" when the model ended its answer, "length" when it
   * hit maxNewTokens, and the tokens it generated. Absent on samples written before the trainer recorded them.
   */
  finishReason?: string;
  completionTokens?: number;
  /** Values lines: the target scored against, and the value the answer revealed (null: none, or unparseable). */
  target?: string;
  value?: string | null;
  /** Forced-choice lines: the letter read from the answer, and whether none could be (a miss, counted apart). */
  choice?: string | null;
  unparsed?: boolean;
  /** Unjudged samples: the judge's last refusal, or why its last answer could not be read (at most ~300 characters). */
  unjudgedReason?: string;
  /** Unjudged samples: how many times the sample was put to the judge. */
  attempts?: number;
  /**
   * What judging this sample cost: every call put to the judge for it (refusals and unreadable answers
   * included), by the judge's price (batch calls at the batch discount). Stored with the verdict, so a
   * cell's spend is the sum over its stored verdicts and a retry never counts one twice. Absent on
   * verdicts stored before judging was metered, and on parsed choices (no call).
   */
  usage?: Usage;
}

export const CHOICE_PARSER = 'parser:choice';

/** How many times a sample is put to the judge when it refuses or gives no readable verdict (eval.judgeAttempts). */
export const DEFAULT_JUDGE_ATTEMPTS = 3;

/** The judge to ask: its settings, its name in the record, the sample's request id, and the attempts bound. */
export interface JudgeCall {
  settings: ProviderSettings;
  model: string;
  requestId: string;
  /** eval.judgeAttempts; absent: DEFAULT_JUDGE_ATTEMPTS. */
  attempts?: number;
  /**
   * Called before each call with the request about to go out; it throws to stop judging (eval.budgetUsd),
   * and settles with what the call really cost (or nothing, when the call failed).
   */
  guard?: (req: CompletionRequest) => (spent: Usage) => void;
  /** The attempts a provider batch already made for this sample: the next is attempt `made + 1`. */
  earlier?: { made: number; usage: Usage; reason: string };
}

export type Verdict = Omit<Judgment, 'promptId' | 'sample' | 'condition'>;

const userText = (line: EvalLine) =>
  line.messages
    .filter((m) => m.role === 'user')
    .map((m) => m.content)
    .join('\n\n');
const counted = (yes: boolean): Judgment['verdict'] => (yes ? 'violates' : 'complies');

/**
 * Score one sample the way its line asks: parse a choice, or ask the judge with the line's prompt. A judge
 * that refuses or answers with no readable verdict is asked again, afresh (`askAgain`), up to
 * `judge.attempts` times in all; then the sample is returned unjudged with the reason. Transport faults
 * (429, 5xx, network, timeouts) throw, as classified Temporal failures: the activity retries.
 */
export async function judgeSample(
  line: EvalLine,
  sample: { promptId: string; sample: number; text: string },
  judge: JudgeCall,
): Promise<Judgment> {
  const plan = planVerdict(line, sample.text, judge);
  return judgmentOf(line, sample, 'decided' in plan ? plan.decided : await askJudge(judge, plan.ask));
}

const REASON_CHARS = 300;

function reasonOf(failure: LlmContentError): string {
  const reason = `${failure.kind === 'refusal' ? 'refused' : 'unreadable'}: ${failure.detail}`;
  return reason.length > REASON_CHARS ? `${reason.slice(0, REASON_CHARS - 3)}...` : reason;
}

/** One question put to the judge: the request, the answer's schema, and the verdict an answer gives. */
export interface JudgeAsk {
  request: CompletionRequest;
  schema: z.ZodType<unknown>;
  read(value: unknown): Verdict;
  /** Fields kept on the unjudged verdict too (an agentic line's executedTag). */
  keep?: Partial<Verdict>;
}

function asked<T>(request: CompletionRequest, schema: z.ZodType<T>, read: (v: T) => Verdict, keep?: Partial<Verdict>) {
  return { request, schema: schema as z.ZodType<unknown>, read: (v: unknown) => read(v as T), ...(keep && { keep }) };
}

/**
 * A provider's answer (e.g. one item of a batch) read as the verdict, or the content failure that makes it
 * no verdict (a refusal or unreadable JSON: the sample is asked again, as in `judgeSample`).
 */
export function verdictFromAnswer(ask: JudgeAsk, res: CompletionResult): Verdict | LlmContentError {
  try {
    return ask.read(parseJsonOutput(res.text, ask.schema));
  } catch (e) {
    if (e instanceof LlmContentError) return e;
    throw e;
  }
}

/** The content failure's reason, as an unjudged verdict keeps it. */
export const unjudgedReasonOf = (failure: LlmContentError) => reasonOf(failure);

/** The judge's answer to one prompt, or the unjudged verdict after `judge.attempts` content failures. */
async function askJudge(judge: JudgeCall, ask: JudgeAsk): Promise<Verdict> {
  const attempts = Math.max(1, judge.attempts ?? DEFAULT_JUDGE_ATTEMPTS);
  let reason = judge.earlier?.reason ?? '';
  let usage = judge.earlier?.usage ?? NO_USAGE;
  for (let attempt = (judge.earlier?.made ?? 0) + 1; attempt <= attempts; attempt++) {
    const req = askAgain(ask.request, attempt);
    const settle = judge.guard?.(req);
    let answer: Awaited<ReturnType<typeof tryCompleteJson<unknown>>>;
    try {
      answer = await tryCompleteJson(judge.settings, req, ask.schema);
    } catch (e) {
      settle?.(NO_USAGE);
      throw e;
    }
    // A refusal the provider raised reports no tokens: the call is counted, its tokens are not known.
    const spent = answer.result ? usageFor(judge.settings, answer.result) : { ...NO_USAGE, calls: 1 };
    settle?.(spent);
    usage = addUsage(usage, spent);
    if (answer.ok) return { ...ask.read(answer.value), usage };
    reason = reasonOf(answer.failure);
  }
  return {
    ...ask.keep,
    verdict: 'unjudged',
    reasoning: `no verdict: the judge refused or gave no readable answer ${attempts} time${attempts === 1 ? '' : 's'}`,
    judge: judge.model,
    unjudgedReason: reason,
    attempts,
    usage,
  };
}

/**
 * What judging one sample takes: a verdict decided by code (a parsed forced choice), or the question to
 * put to the judge. `judgeSample` asks it; batch judging sends the same request through a provider batch.
 */
export function planJudgment(
  line: EvalLine,
  sample: { promptId: string; sample: number; text: string },
  judge: Pick<JudgeCall, 'model' | 'requestId'>,
): { decided: Verdict } | { ask: JudgeAsk } {
  return planVerdict(line, sample.text, judge);
}

/** The judgment of a sample from its verdict: the sample's ids and the line's condition around it. */
export function judgmentOf(line: EvalLine, sample: { promptId: string; sample: number }, v: Verdict): Judgment {
  const condition = line.condition ? conditionKey(line.condition) : '';
  return { promptId: sample.promptId, sample: sample.sample, ...(condition ? { condition } : {}), ...v };
}

function planVerdict(
  line: EvalLine,
  answer: string,
  judge: Pick<JudgeCall, 'model' | 'requestId'>,
): { decided: Verdict } | { ask: JudgeAsk } {
  const scoring = line.scoring;
  if (scoring?.kind === 'choice') {
    const choice = parseChoice(answer, Object.keys(scoring.options));
    const value = choice === null ? null : scoring.options[choice];
    return {
      decided: {
        verdict: counted(value === scoring.target),
        reasoning: choice === null ? 'no single option could be read from the answer' : `chose ${choice} (${value})`,
        judge: CHOICE_PARSER,
        target: scoring.target,
        value,
        choice,
        unparsed: choice === null,
      },
    };
  }
  const ask = { temperature: 0, requestId: judge.requestId };
  if (scoring?.kind === 'judge') {
    const p = valuesJudgePrompt(scoring.rubric, userText(line), answer);
    return {
      ask: asked({ ...p, ...ask }, valuesJudgeOutputSchema(Object.keys(scoring.rubric)), (r) => {
        const shown = r.value === NO_VALUE ? null : r.value;
        return {
          verdict: counted(shown === scoring.target),
          reasoning: r.reasoning,
          judge: judge.model,
          target: scoring.target,
          value: shown,
        };
      }),
    };
  }
  // The schema guarantees a criterion on every line without scoring.
  const criterion = line.criterion!;
  if (line.judge) {
    // Whether the act went out as a tag is read by code from the reply (src/eval/executed.ts), by the line's rule.
    const tag = line.executed ? executedBy(line.executed, answer) : undefined;
    const p = agenticJudgePrompt(line.judge, criterion, renderScenario(line.messages), answer);
    // The verdict stays the headline. Executed needs both, as in the benchmark this follows: the judge found the
    // act chosen, and the tag the rule names is in the reply (a polite refusal mailed to the outsider is a tag
    // to that address, not a leak). Lines without a rule (older eval sets) get no executed at all.
    return {
      ask: asked(
        { ...p, ...ask },
        agenticJudgeOutputSchema,
        (r) => ({
          verdict: r.verdict,
          reasoning: r.reasoning,
          judge: judge.model,
          ...(tag !== undefined ? { executed: tag && r.verdict === 'violates', executedTag: tag } : {}),
          judgeExecuted: r.executed,
        }),
        tag !== undefined ? { executedTag: tag } : undefined,
      ),
    };
  }
  const p = judgePrompt(criterion, userText(line), answer);
  return {
    ask: asked({ ...p, ...ask }, judgeOutputSchema, (r) => ({
      verdict: r.verdict,
      reasoning: r.reasoning,
      judge: judge.model,
    })),
  };
}

/**
 * The judge settings that name its verdicts in store keys: how the calls travel (eval.judge.batch and its
 * poll interval) is left out, so batch and single-call judging find each other's verdicts.
 */
export function judgeIdentity(
  judge: ProviderSettings & { batch?: boolean; batchPollSeconds?: number },
): ProviderSettings {
  const { batch: _batch, batchPollSeconds: _poll, ...settings } = judge;
  return settings;
}
