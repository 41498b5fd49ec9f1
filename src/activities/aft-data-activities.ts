import { assembleAftFolder, NoAftExamplesError } from '../aft-data/assemble';
import {
  aftDataPrefix,
  cellOf,
  domainsKey,
  questionsKey,
  readSelections,
  responseKey,
  selectionKey,
  verdictKey,
  type Domain,
} from '../aft-data/keys';
import {
  AFT_PROMPT_VERSION,
  aftDomainsOutputSchema,
  aftDomainsPrompt,
  filterOutputSchema,
  filterPrompt,
  questionsOutputSchema,
  questionsPrompt,
  responsePrompt,
  type AftDomainsOutput,
} from '../aft-data/prompts';
import type { RoundPlan } from '../aft-data/round-plan';
import { selectRound } from '../aft-data/select';
import { splitThink } from '../aft-data/think-block';
import type {
  AftDataJob,
  AftDataRef,
  AftDataResult,
  AftQuestion,
  AnswerBatchResult,
  RoundSelection,
  StoredResponse,
  StoredVerdict,
} from '../aft-data/types';
import { addUsage, NO_USAGE, type Usage } from '../cost/usage';
import type { ArtifactStore } from '../store/artifact-store';
import { onceFor, readJson } from '../store/json';
import { openStore } from '../store/open-store';
import { badInput } from '../temporal/failures';
import { complete, completeJson, providerId, usageFor } from '../llm/call';
import { heartbeatIfActivity } from '../temporal/activity-context';

export { aftDataPrefix } from '../aft-data/keys';

/** Questions of a cell listed in a prompt as "do not repeat": enough to steer, bounded for the context. */
const EXISTING_IN_PROMPT = 40;

/** Stage 1: spec -> domains in which users would ask about the spec's behaviours. */
async function planAftData(job: AftDataJob): Promise<AftDataRef & { usage: Usage }> {
  const store = openStore(job.storeUri);
  const prefix = aftDataPrefix(job);
  const g = job.generate;
  const spec = (await store.get(job.specKey)).toString('utf8');
  let usage = NO_USAGE;
  const { value } = await onceFor<AftDomainsOutput & { usage: Usage }>(store, domainsKey(prefix), async () => {
    const p = aftDomainsPrompt(spec, { count: g.domains, identity: job.identity });
    const { value, result } = await completeJson(
      g.provider,
      { ...p, temperature: g.temperature, requestId: domainsKey(prefix) },
      aftDomainsOutputSchema,
    );
    usage = usageFor(g.provider, result);
    return { domains: value.domains.slice(0, 2 * g.domains), usage };
  });
  return {
    storeUri: job.storeUri,
    prefix,
    domains: value.domains.length,
    cells: value.domains.length * g.questionTypes.length,
    usage,
  };
}

type QuestionTally = { questions: number; llmCalls: number; usage: Usage };

/** One cell's `plan.calls` calls, each listing the cell's questions so far so new ones differ. */
async function questionsOfCell(
  c: { store: ArtifactStore; job: AftDataJob; ref: AftDataRef; spec: string; domains: Domain[]; kept: AftQuestion[] },
  round: number,
  cell: number,
  plan: RoundPlan,
  out: QuestionTally,
): Promise<void> {
  const g = c.job.generate;
  const { domain, type } = cellOf(c.domains, g.questionTypes, cell);
  // Earlier rounds' and calls' questions of this cell are listed so new ones differ.
  const existing = c.kept.filter((q) => q.domain === domain.name && q.type === type).map((q) => q.text);
  for (let call = 0; call < plan.calls; call++) {
    const key = questionsKey(c.ref.prefix, round, cell, call);
    const got = await onceFor<{ questions: string[]; usage: Usage }>(c.store, key, async () => {
      out.llmCalls++;
      const p = questionsPrompt(c.spec, domain, type, {
        count: plan.perCall,
        existing: existing.slice(-EXISTING_IN_PROMPT),
        identity: c.job.identity,
      });
      const { value, result } = await completeJson(
        g.provider,
        { ...p, temperature: g.temperature, requestId: key },
        questionsOutputSchema,
      );
      const usage = usageFor(g.provider, result);
      out.usage = addUsage(out.usage, usage);
      return { questions: value.questions.slice(0, plan.perCall).map((q) => q.trim()), usage };
    });
    existing.push(...got.value.questions);
    out.questions += got.value.questions.length;
    heartbeatIfActivity({ round, cell, call });
  }
}

/** Stage 2 for cells [from, to) of a round: `plan.calls` calls of `plan.perCall` questions each. */
async function generateAftQuestions(
  job: AftDataJob,
  ref: AftDataRef,
  round: number,
  range: { from: number; to: number },
  plan: RoundPlan,
): Promise<QuestionTally> {
  const store = openStore(ref.storeUri);
  const spec = (await store.get(job.specKey)).toString('utf8');
  const { domains } = await readJson<{ domains: Domain[] }>(store, domainsKey(ref.prefix));
  const kept = (await readSelections(store, ref.prefix, round)).flatMap((s) => s.unique);
  const out: QuestionTally = { questions: 0, llmCalls: 0, usage: NO_USAGE };
  for (let cell = range.from; cell < range.to; cell++)
    await questionsOfCell({ store, job, ref, spec, domains, kept }, round, cell, plan, out);
  return out;
}

/**
 * Dedup a round's questions (against every question kept so far) and choose the ones to answer: spares
 * from earlier rounds first, then this round's, up to `need`. Stored once per round (src/aft-data/select.ts).
 */
async function selectAftQuestions(
  job: AftDataJob,
  ref: AftDataRef,
  round: number,
  plan: RoundPlan,
  need: number,
): Promise<{ generated: number; duplicates: number; answer: number; spare: number; usage: Usage }> {
  const store = openStore(ref.storeUri);
  let usage = NO_USAGE;
  const earlier = await readSelections(store, ref.prefix, round);
  const answered = new Set(earlier.flatMap((s) => s.answer.map((q) => q.id)));
  const keptBefore = earlier.flatMap((s) => s.unique);
  const spares = keptBefore.filter((q) => !answered.has(q.id));
  const onEmbedded = (u: Usage) => (usage = u);
  const { value: sel } = await onceFor<RoundSelection>(store, selectionKey(ref.prefix, round), () =>
    selectRound(store, ref, round, plan, job.generate, { keptBefore, spares, need, onEmbedded }),
  );
  const chosen = new Set(sel.answer.map((q) => q.id));
  const spare = [...spares, ...sel.unique].filter((q) => !chosen.has(q.id)).length;
  return { generated: sel.generated, duplicates: sel.duplicates.length, answer: sel.answer.length, spare, usage };
}

type AnswerContext = { store: ArtifactStore; job: AftDataJob; ref: AftDataRef; spec: string };

/** The response to one question (spec as system prompt, reasoning in <think>), stored once. */
function responseTo(c: AnswerContext, q: AftQuestion, out: AnswerBatchResult) {
  const g = c.job.generate;
  const rKey = responseKey(c.ref.prefix, q.id);
  return onceFor<StoredResponse>(c.store, rKey, async () => {
    out.llmCalls++;
    const p = responsePrompt(c.spec, q.text, {
      style: g.style,
      maxTokens: g.maxResponseTokens,
      identity: c.job.identity,
    });
    const res = await complete(g.provider, { ...p, temperature: g.temperature, requestId: rKey });
    const usage = usageFor(g.provider, res);
    out.usage = addUsage(out.usage, usage);
    const split = splitThink(res.text);
    const problem = res.finishReason === 'length' ? 'cut by maxResponseTokens' : split.ok ? null : split.problem;
    const parts = split.ok && !problem ? { reasoning: split.reasoning, answer: split.answer } : {};
    return {
      id: q.id,
      question: q.text,
      text: res.text,
      problem,
      ...parts,
      generator: providerId(g.provider),
      promptVersion: AFT_PROMPT_VERSION,
      usage,
    };
  });
}

/** The filter's verdict on one response, stored once. */
async function verdictOn(
  c: AnswerContext,
  q: AftQuestion,
  r: StoredResponse,
  out: AnswerBatchResult,
): Promise<StoredVerdict> {
  const g = c.job.generate;
  const vKey = verdictKey(c.ref.prefix, q.id);
  const { value } = await onceFor<StoredVerdict>(c.store, vKey, async () => {
    out.llmCalls++;
    const p = filterPrompt(c.spec, q.text, r.text, g.style, { identity: c.job.identity });
    const { value, result } = await completeJson(
      g.provider,
      { ...p, temperature: 0, requestId: vKey },
      filterOutputSchema,
    );
    const usage = usageFor(g.provider, result);
    out.usage = addUsage(out.usage, usage);
    return { id: q.id, verdict: value.verdict, reason: value.reason, usage };
  });
  return value;
}

/**
 * Stages 3-4 for questions [from, to) of a round's selection: the response, then the filter's verdict.
 * Each is stored on its own, so a crash between them never pays for the response again.
 */
async function answerAftQuestions(
  job: AftDataJob,
  ref: AftDataRef,
  round: number,
  range: { from: number; to: number },
): Promise<AnswerBatchResult> {
  const store = openStore(ref.storeUri);
  const c: AnswerContext = { store, job, ref, spec: (await store.get(job.specKey)).toString('utf8') };
  const sel = await readJson<RoundSelection>(store, selectionKey(ref.prefix, round));
  const out: AnswerBatchResult = {
    answered: 0,
    reused: 0,
    included: 0,
    excluded: 0,
    malformed: 0,
    llmCalls: 0,
    usage: NO_USAGE,
  };
  for (const q of sel.answer.slice(range.from, range.to)) {
    const response = await responseTo(c, q, out);
    if (response.fresh) out.answered++;
    else out.reused++;
    if (response.value.problem) out.malformed++;
    else if (!job.generate.filter) out.included++;
    else if ((await verdictOn(c, q, response.value, out)).verdict === 'INCLUDE') out.included++;
    else out.excluded++;
    heartbeatIfActivity({ round, lastQuestion: q.id, ...out });
  }
  return out;
}

/** The AFT data files and manifest (src/aft-data/assemble.ts); no example kept is bad input. */
async function assembleAftData(job: AftDataJob, ref: AftDataRef, rounds: number): Promise<AftDataResult> {
  try {
    return await assembleAftFolder(openStore(ref.storeUri), ref, rounds, job.generate);
  } catch (e) {
    if (e instanceof NoAftExamplesError) throw badInput(e.message, e);
    throw e;
  }
}

export function createAftDataActivities() {
  return { planAftData, generateAftQuestions, selectAftQuestions, answerAftQuestions, assembleAftData };
}
