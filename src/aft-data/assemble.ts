import { providerId } from '../llm/call';
import { heartbeatIfActivity } from '../temporal/activity-context';
import type { AftGenerateSettings } from '../config/experiment-schema';
import { addUsage, type Usage } from '../cost/usage';
import { reproducibilityOf } from '../llm/seed';
import type { ArtifactStore } from '../store/artifact-store';
import { readJson, writeJson } from '../store/json';
import { sha256Hex } from '../util/hash';
import { domainsKey, readSelections, responseKey, verdictKey } from './keys';
import { AFT_PROMPT_VERSION } from './prompts';
import { withReasoning } from './think-block';
import type { AftDataFile, AftDataRef, AftDataResult, RoundSelection, StoredResponse, StoredVerdict } from './types';

/** AFT data generation that kept no example: bad settings, never retried (the message says which to change). */
export class NoAftExamplesError extends Error {
  override name = 'NoAftExamplesError';
}

/** What every stored paid item cost that is not a response or verdict: domains, questions, embeddings. */
async function planningUsage(store: ArtifactStore, prefix: string): Promise<Usage> {
  let usage = (await readJson<{ usage: Usage }>(store, domainsKey(prefix))).usage;
  const paidKeys = [
    ...(await store.list(`${prefix}/questions/`)),
    ...(await store.list(`${prefix}/rounds/`)).filter((k) => k.endsWith('/embeddings.json')),
  ];
  for (const key of paidKeys.filter((k) => k.endsWith('.json')))
    usage = addUsage(usage, (await readJson<{ usage: Usage }>(store, key)).usage);
  return usage;
}

/** The included pairs of every round, in order, as chat lines with and without the think block (at most g.count). */
async function collectPairs(
  store: ArtifactStore,
  prefix: string,
  selections: RoundSelection[],
  g: AftGenerateSettings,
  usageBefore: Usage,
) {
  let usage = usageBefore;
  const counts = { malformed: 0, excludedByFilter: 0, included: 0, answered: 0 };
  const withLines: string[] = [];
  const withoutLines: string[] = [];
  for (const sel of selections) {
    for (const q of sel.answer) {
      const r = await readJson<StoredResponse>(store, responseKey(prefix, q.id));
      usage = addUsage(usage, r.usage);
      counts.answered++;
      if (r.problem) {
        counts.malformed++;
        continue;
      }
      if (g.filter) {
        const v = await readJson<StoredVerdict>(store, verdictKey(prefix, q.id));
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
      withLines.push(
        JSON.stringify({
          messages: [
            user,
            { role: 'assistant', content: withReasoning({ reasoning: r.reasoning!, answer: r.answer! }) },
          ],
          meta,
        }),
      );
      withoutLines.push(JSON.stringify({ messages: [user, { role: 'assistant', content: r.answer! }], meta }));
    }
    heartbeatIfActivity({ round: sel.round, examples: withLines.length });
  }
  return { usage, counts, withLines, withoutLines };
}

/**
 * Collect the included pairs of every round, in order, up to the requested count, into two chat
 * JSONL files (with and without the think block, in the format src/tokenize/tokenize-chat.ts reads)
 * and a manifest with the counts and hashes, written last.
 */
export async function assembleAftFolder(
  store: ArtifactStore,
  ref: AftDataRef,
  rounds: number,
  g: AftGenerateSettings,
): Promise<AftDataResult> {
  const out = `${ref.prefix}/assembled-r${rounds}`;
  const manifestKey = `${out}/manifest.json`;
  if (await store.exists(manifestKey)) {
    const {
      manifestKey: k,
      withReasoning,
      withoutReasoning,
      examples,
      counts,
      usage,
    } = await readJson<AftDataResult>(store, manifestKey);
    return { manifestKey: k, withReasoning, withoutReasoning, examples, counts, usage };
  }
  const selections = await readSelections(store, ref.prefix, rounds);
  const { usage, counts, withLines, withoutLines } = await collectPairs(
    store,
    ref.prefix,
    selections,
    g,
    await planningUsage(store, ref.prefix),
  );
  if (withLines.length === 0) {
    throw new NoAftExamplesError(
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
  await writeJson(store, manifestKey, {
    ...result,
    promptVersion: AFT_PROMPT_VERSION,
    generator: providerId(g.provider),
    reproducible,
    settings: g,
  });
  return result;
}
