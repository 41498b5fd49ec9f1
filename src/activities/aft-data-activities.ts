import { reproducibilityOf } from '../llm/seed';
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
  type QuestionType,
} from '../aft-data/prompts';
import { dedupByCosine, dedupDense } from '../aft-data/lexical-cosine';
import { QUESTIONS_PER_CALL_MAX, type RoundPlan } from '../aft-data/round-plan';
import { splitThink, withReasoning } from '../aft-data/think-block';
import type { AftGenerateSettings } from '../config/experiment-schema';
import { addUsage, NO_USAGE, usageOf, type Usage } from '../cost/usage';
import { embedTexts } from '../llm/embeddings';
import type { ArtifactStore } from '../store/artifact-store';
import { readJson, writeJson } from '../store/json';
import { openStore } from '../store/open-store';
import { contentId, sha256Hex } from '../util/hash';
import { badInput, classifyLlmError } from './failures';
import { complete, completeJson, heartbeatIfActivity, providerId, usageFor } from './llm-call';
import type {
  AftDataFile,
  AftDataJob,
  AftDataRef,
  AftDataResult,
  AftQuestion,
  AnswerBatchResult,
  RoundSelection,
  StoredResponse,
  StoredVerdict,
} from '../aft-data/types';

const pad = (n: number, w = 3) => String(n).padStart(w, '0');
const domainsKey = (prefix: string) => `${prefix}/domains.json`;
const questionsKey = (prefix: string, round: number, cell: number, call: number) => `${prefix}/questions/r${round}/cell${pad(cell)}-c${pad(call, 2)}.json`;
const selectionKey = (prefix: string, round: number) => `${prefix}/rounds/r${round}/selection.json`;
const embeddingsKey = (prefix: string, round: number) => `${prefix}/rounds/r${round}/embeddings.json`;
const responseKey = (prefix: string, id: string) => `${prefix}/responses/${id}.json`;
const verdictKey = (prefix: string, id: string) => `${prefix}/filter/${id}.json`;
/** Texts per embeddings request. */
const EMBED_BATCH = 128;
/** Questions of a cell listed in a prompt as "do not repeat": enough to steer, bounded for the context. */
const EXISTING_IN_PROMPT = 40;

/** Everything that changes the data goes into its id; concurrency, batch sizes and the round cap do not. */
export function aftDataPrefix(job: AftDataJob): string {
  const g = job.generate;
  return `aftdata/${contentId({
    spec: job.specHash,
    prompts: AFT_PROMPT_VERSION,
    questionsPerCall: QUESTIONS_PER_CALL_MAX,
    generator: providerId(g.provider),
    temperature: g.temperature,
    count: g.count,
    style: g.style,
    questionTypes: g.questionTypes,
    domains: g.domains,
    dedupThreshold: g.dedupThreshold,
    dedup: g.embeddings ? `embeddings:${g.embeddings.model}` : 'lexical-v1',
    maxResponseTokens: g.maxResponseTokens,
    filter: g.filter,
  })}`;
}

/** Run `fn` only when `key` is missing: a retry or re-run never pays for an item twice. */
async function onceFor<T>(store: ArtifactStore, key: string, fn: () => Promise<T>): Promise<{ value: T; fresh: boolean }> {
  if (await store.exists(key)) return { value: await readJson<T>(store, key), fresh: false };
  const value = await fn();
  await writeJson(store, key, value);
  return { value, fresh: true };
}

interface Domain {
  name: string;
  description: string;
}

function cellOf(domains: Domain[], types: QuestionType[], cell: number) {
  return { d: Math.floor(cell / types.length), domain: domains[Math.floor(cell / types.length)], type: types[cell % types.length] };
}

/** A round's question embeddings, stored once (Float32, base64) so a re-run never pays for them again. */
interface StoredEmbeddings {
  ids: string[];
  dims: number;
  float32Base64: string;
  usage: Usage;
}

function decodeVectors(e: StoredEmbeddings): Map<string, number[]> {
  const all = new Float32Array(new Uint8Array(Buffer.from(e.float32Base64, 'base64')).buffer);
  return new Map(e.ids.map((id, i) => [id, Array.from(all.subarray(i * e.dims, (i + 1) * e.dims))]));
}

async function embedRound(store: ArtifactStore, prefix: string, round: number, g: AftGenerateSettings, questions: AftQuestion[]) {
  const settings = g.embeddings!;
  return onceFor<StoredEmbeddings>(store, embeddingsKey(prefix, round), async () => {
    const vectors: number[][] = [];
    let usage = NO_USAGE;
    for (let i = 0; i < questions.length; i += EMBED_BATCH) {
      const got = await embedTexts(settings, questions.slice(i, i + EMBED_BATCH).map((q) => q.text)).catch((e: unknown) => {
        throw classifyLlmError(e);
      });
      vectors.push(...got.vectors);
      usage = addUsage(usage, usageOf({ inputTokens: got.inputTokens, outputTokens: 0 }, settings.price));
      heartbeatIfActivity({ round, embedded: vectors.length, of: questions.length });
    }
    const dims = vectors[0]?.length ?? 0;
    const flat = Float32Array.from(vectors.flat());
    return { ids: questions.map((q) => q.id), dims, float32Base64: Buffer.from(flat.buffer).toString('base64'), usage };
  });
}

async function readSelections(store: ArtifactStore, prefix: string, rounds: number): Promise<RoundSelection[]> {
  const out: RoundSelection[] = [];
  for (let r = 0; r < rounds; r++) out.push(await readJson<RoundSelection>(store, selectionKey(prefix, r)));
  return out;
}

export function createAftDataActivities() {
  return {
    /** Stage 1: spec -> domains in which users would ask about the spec's behaviours. */
    async planAftData(job: AftDataJob): Promise<AftDataRef & { usage: Usage }> {
      const store = openStore(job.storeUri);
      const prefix = aftDataPrefix(job);
      const g = job.generate;
      const spec = (await store.get(job.specKey)).toString('utf8');
      let usage = NO_USAGE;
      const { value } = await onceFor<AftDomainsOutput & { usage: Usage }>(store, domainsKey(prefix), async () => {
        const p = aftDomainsPrompt(spec, { count: g.domains });
        const { value, result } = await completeJson(g.provider, { ...p, temperature: g.temperature, requestId: domainsKey(prefix) }, aftDomainsOutputSchema);
        usage = usageFor(g.provider, result);
        return { domains: value.domains.slice(0, 2 * g.domains), usage };
      });
      return { storeUri: job.storeUri, prefix, domains: value.domains.length, cells: value.domains.length * g.questionTypes.length, usage };
    },

    /** Stage 2 for cells [from, to) of a round: `plan.calls` calls of `plan.perCall` questions each. */
    async generateAftQuestions(
      job: AftDataJob,
      ref: AftDataRef,
      round: number,
      range: { from: number; to: number },
      plan: RoundPlan,
    ): Promise<{ questions: number; llmCalls: number; usage: Usage }> {
      const store = openStore(ref.storeUri);
      const g = job.generate;
      const spec = (await store.get(job.specKey)).toString('utf8');
      const { domains } = await readJson<{ domains: Domain[] }>(store, domainsKey(ref.prefix));
      const kept = (await readSelections(store, ref.prefix, round)).flatMap((s) => s.unique);
      const out = { questions: 0, llmCalls: 0, usage: NO_USAGE };
      for (let cell = range.from; cell < range.to; cell++) {
        const { domain, type } = cellOf(domains, g.questionTypes, cell);
        // Earlier rounds' and calls' questions of this cell are listed so new ones differ.
        const existing = kept.filter((q) => q.domain === domain.name && q.type === type).map((q) => q.text);
        for (let call = 0; call < plan.calls; call++) {
          const key = questionsKey(ref.prefix, round, cell, call);
          const got = await onceFor<{ questions: string[]; usage: Usage }>(store, key, async () => {
            out.llmCalls++;
            const p = questionsPrompt(spec, domain, type, { count: plan.perCall, existing: existing.slice(-EXISTING_IN_PROMPT) });
            const { value, result } = await completeJson(g.provider, { ...p, temperature: g.temperature, requestId: key }, questionsOutputSchema);
            const usage = usageFor(g.provider, result);
            out.usage = addUsage(out.usage, usage);
            return { questions: value.questions.slice(0, plan.perCall).map((q) => q.trim()), usage };
          });
          existing.push(...got.value.questions);
          out.questions += got.value.questions.length;
          heartbeatIfActivity({ round, cell, call });
        }
      }
      return out;
    },

    /**
     * Dedup a round's questions (lexical cosine, against every question kept so far) and choose the ones
     * to answer: spares from earlier rounds first, then this round's, up to `need`. Stored once per round.
     */
    async selectAftQuestions(
      job: AftDataJob,
      ref: AftDataRef,
      round: number,
      plan: RoundPlan,
      need: number,
    ): Promise<{ generated: number; duplicates: number; answer: number; spare: number; usage: Usage }> {
      const store = openStore(ref.storeUri);
      const g = job.generate;
      let usage = NO_USAGE;
      const summary = (s: RoundSelection, spare: number) => ({ generated: s.generated, duplicates: s.duplicates.length, answer: s.answer.length, spare, usage });
      const earlier = await readSelections(store, ref.prefix, round);
      const answered = new Set(earlier.flatMap((s) => s.answer.map((q) => q.id)));
      const keptBefore = earlier.flatMap((s) => s.unique);
      const spares = keptBefore.filter((q) => !answered.has(q.id));
      const { value: sel } = await onceFor<RoundSelection>(store, selectionKey(ref.prefix, round), async () => {
        const { domains } = await readJson<{ domains: Domain[] }>(store, domainsKey(ref.prefix));
        const fresh: AftQuestion[] = [];
        for (let cell = 0; cell < ref.cells; cell++) {
          const { d, domain, type } = cellOf(domains, g.questionTypes, cell);
          for (let call = 0; call < plan.calls; call++) {
            const { questions } = await readJson<{ questions: string[] }>(store, questionsKey(ref.prefix, round, cell, call));
            questions.forEach((text, i) => fresh.push({ id: `r${round}-d${pad(d)}-${type}-c${pad(call, 2)}-q${pad(i, 2)}`, text, domain: domain.name, type }));
          }
        }
        heartbeatIfActivity({ round, deduplicating: fresh.length });
        const all = [...keptBefore, ...fresh];
        const onProgress = (done: number, total: number) => heartbeatIfActivity({ round, deduplicated: done, of: total });
        let dedup: { duplicateOf: (number | null)[]; similarity: number[] };
        if (g.embeddings) {
          const stored = await embedRound(store, ref.prefix, round, g, fresh);
          if (stored.fresh) usage = stored.value.usage;
          const vectors = new Map<string, number[]>();
          for (let r = 0; r <= round; r++) {
            const e = r === round ? stored.value : await readJson<StoredEmbeddings>(store, embeddingsKey(ref.prefix, r));
            decodeVectors(e).forEach((v, id) => vectors.set(id, v));
          }
          const vectorOf = (q: AftQuestion) => vectors.get(q.id)!;
          dedup = dedupDense(fresh.map(vectorOf), g.dedupThreshold, { keptBefore: keptBefore.map(vectorOf), onProgress });
        } else {
          dedup = dedupByCosine(fresh.map((q) => q.text), g.dedupThreshold, { keptBefore: keptBefore.map((q) => q.text), onProgress });
        }
        const { duplicateOf, similarity } = dedup;
        const unique = fresh.filter((_, i) => duplicateOf[i] === null);
        const duplicates = fresh.flatMap((q, i) => (duplicateOf[i] === null ? [] : [{ id: q.id, of: all[duplicateOf[i]!].id, similarity: Number(similarity[i].toFixed(4)) }]));
        return { round, generated: fresh.length, duplicates, unique, answer: [...spares, ...unique].slice(0, Math.max(0, need)) };
      });
      const chosen = new Set(sel.answer.map((q) => q.id));
      const spare = [...spares, ...sel.unique].filter((q) => !chosen.has(q.id)).length;
      return summary(sel, spare);
    },

    /**
     * Stages 3-4 for questions [from, to) of a round's selection: the response (spec as system prompt,
     * reasoning in <think>), then the filter's verdict. Each is stored on its own, so a crash between
     * them never pays for the response again.
     */
    async answerAftQuestions(job: AftDataJob, ref: AftDataRef, round: number, range: { from: number; to: number }): Promise<AnswerBatchResult> {
      const store = openStore(ref.storeUri);
      const g = job.generate;
      const spec = (await store.get(job.specKey)).toString('utf8');
      const sel = await readJson<RoundSelection>(store, selectionKey(ref.prefix, round));
      const generator = providerId(g.provider);
      const out: AnswerBatchResult = { answered: 0, reused: 0, included: 0, excluded: 0, malformed: 0, llmCalls: 0, usage: NO_USAGE };
      for (const q of sel.answer.slice(range.from, range.to)) {
        const rKey = responseKey(ref.prefix, q.id);
        const response = await onceFor<StoredResponse>(store, rKey, async () => {
          out.llmCalls++;
          const p = responsePrompt(spec, q.text, { style: g.style, maxTokens: g.maxResponseTokens });
          const res = await complete(g.provider, { ...p, temperature: g.temperature, requestId: rKey });
          const usage = usageFor(g.provider, res);
          out.usage = addUsage(out.usage, usage);
          const split = splitThink(res.text);
          const problem = res.finishReason === 'length' ? 'cut by maxResponseTokens' : split.ok ? null : split.problem;
          const parts = split.ok && !problem ? { reasoning: split.reasoning, answer: split.answer } : {};
          return { id: q.id, question: q.text, text: res.text, problem, ...parts, generator, promptVersion: AFT_PROMPT_VERSION, usage };
        });
        if (response.fresh) out.answered++;
        else out.reused++;
        const r = response.value;
        if (r.problem) out.malformed++;
        else if (!g.filter) out.included++;
        else {
          const vKey = verdictKey(ref.prefix, q.id);
          const { value: v } = await onceFor<StoredVerdict>(store, vKey, async () => {
            out.llmCalls++;
            const p = filterPrompt(spec, q.text, r.text, g.style);
            const { value, result } = await completeJson(g.provider, { ...p, temperature: 0, requestId: vKey }, filterOutputSchema);
            const usage = usageFor(g.provider, result);
            out.usage = addUsage(out.usage, usage);
            return { id: q.id, verdict: value.verdict, reason: value.reason, usage };
          });
          if (v.verdict === 'INCLUDE') out.included++;
          else out.excluded++;
        }
        heartbeatIfActivity({ round, lastQuestion: q.id, ...out });
      }
      return out;
    },

    /**
     * Collect the included pairs of every round, in order, up to the requested count, into two chat
     * JSONL files (with and without the think block, in the format src/tokenize/tokenize-chat.ts reads)
     * and a manifest with the counts and hashes, written last.
     */
    async assembleAftData(job: AftDataJob, ref: AftDataRef, rounds: number): Promise<AftDataResult> {
      const store = openStore(ref.storeUri);
      const g = job.generate;
      const out = `${ref.prefix}/assembled-r${rounds}`;
      const manifestKey = `${out}/manifest.json`;
      if (await store.exists(manifestKey)) {
        const { manifestKey: k, withReasoning, withoutReasoning, examples, counts, usage } = await readJson<AftDataResult>(store, manifestKey);
        return { manifestKey: k, withReasoning, withoutReasoning, examples, counts, usage };
      }
      const selections = await readSelections(store, ref.prefix, rounds);
      const domains = await readJson<{ usage: Usage }>(store, domainsKey(ref.prefix));
      let usage = domains.usage;
      const paidKeys = [...(await store.list(`${ref.prefix}/questions/`)), ...(await store.list(`${ref.prefix}/rounds/`)).filter((k) => k.endsWith('/embeddings.json'))];
      for (const key of paidKeys.filter((k) => k.endsWith('.json'))) {
        usage = addUsage(usage, (await readJson<{ usage: Usage }>(store, key)).usage);
      }
      const counts = { malformed: 0, excludedByFilter: 0, included: 0, answered: 0 };
      const withLines: string[] = [];
      const withoutLines: string[] = [];
      for (const sel of selections) {
        for (const q of sel.answer) {
          const r = await readJson<StoredResponse>(store, responseKey(ref.prefix, q.id));
          usage = addUsage(usage, r.usage);
          counts.answered++;
          if (r.problem) {
            counts.malformed++;
            continue;
          }
          if (g.filter) {
            const v = await readJson<StoredVerdict>(store, verdictKey(ref.prefix, q.id));
            usage = addUsage(usage, v.usage);
            if (v.verdict === 'EXCLUDE') {
              counts.excludedByFilter++;
              continue;
            }
          }
          counts.included++;
          if (withLines.length >= g.count) continue;
          const meta = { id: q.id, domain: q.domain, type: q.type, style: g.style };
          const user = { role: 'user', content: q.text };
          withLines.push(JSON.stringify({ messages: [user, { role: 'assistant', content: withReasoning({ reasoning: r.reasoning!, answer: r.answer! }) }], meta }));
          withoutLines.push(JSON.stringify({ messages: [user, { role: 'assistant', content: r.answer! }], meta }));
        }
        heartbeatIfActivity({ round: sel.round, examples: withLines.length });
      }
      if (withLines.length === 0) {
        throw badInput(
          `AFT data generation (${ref.prefix}) kept no example out of ${counts.answered} answered questions ` +
            `(${counts.malformed} malformed, ${counts.excludedByFilter} excluded by the filter): raise aft.generate.maxResponseTokens, ` +
            'check that the provider writes a <think> block, or set aft.generate.filter: false',
        );
      }
      const put = async (name: string, lines: string[]): Promise<AftDataFile> => {
        const text = lines.join('\n') + '\n';
        const key = `${out}/${name}.jsonl`;
        await store.put(key, text);
        return { key, sha256: sha256Hex(text) };
      };
      const result: AftDataResult = {
        manifestKey,
        withReasoning: await put('with-reasoning', withLines),
        withoutReasoning: await put('without-reasoning', withoutLines),
        examples: withLines.length,
        counts: {
          requested: g.count,
          examples: withLines.length,
          shortfall: g.count - withLines.length,
          domains: ref.domains,
          questionsGenerated: selections.reduce((n, s) => n + s.generated, 0),
          duplicates: selections.reduce((n, s) => n + s.duplicates.length, 0),
          ...counts,
          rounds,
          backfillRounds: rounds - 1,
        },
        usage,
      };
      // Seeded from each item's key (src/llm/seed.ts): whether a run from an empty store gives the same data.
      const reproducible = reproducibilityOf(g.provider.kind);
      await writeJson(store, manifestKey, { ...result, promptVersion: AFT_PROMPT_VERSION, generator: providerId(g.provider), reproducible, settings: g });
      return result;
    },
  };
}
