import { heartbeatIfActivity } from '../temporal/activity-context';
import type { AftGenerateSettings } from '../config/experiment-schema';
import type { Usage } from '../cost/usage';
import type { ArtifactStore } from '../store/artifact-store';
import { readJson } from '../store/json';
import { decodeVectors, embedRound, type StoredEmbeddings } from './embeddings';
import { cellOf, domainsKey, embeddingsKey, pad, questionsKey, type Domain } from './keys';
import { dedupByCosine, dedupDense } from './lexical-cosine';
import type { RoundPlan } from './round-plan';
import type { AftDataRef, AftQuestion, RoundSelection } from './types';

type Dedup = { duplicateOf: (number | null)[]; similarity: number[] };

/** A round's stored questions, each with its id (round, domain, type, call, position). */
async function roundQuestions(
  store: ArtifactStore,
  ref: AftDataRef,
  round: number,
  plan: RoundPlan,
  g: AftGenerateSettings,
) {
  const { domains } = await readJson<{ domains: Domain[] }>(store, domainsKey(ref.prefix));
  const fresh: AftQuestion[] = [];
  for (let cell = 0; cell < ref.cells; cell++) {
    const { d, domain, type } = cellOf(domains, g.questionTypes, cell);
    for (let call = 0; call < plan.calls; call++) {
      const { questions } = await readJson<{ questions: string[] }>(store, questionsKey(ref.prefix, round, cell, call));
      questions.forEach((text, i) =>
        fresh.push({
          id: `r${round}-d${pad(d)}-${type}-c${pad(call, 2)}-q${pad(i, 2)}`,
          text,
          domain: domain.name,
          type,
        }),
      );
    }
  }
  return fresh;
}

/** Dense dedup over this round's embeddings and every earlier round's (each stored once). */
async function denseDedup(
  store: ArtifactStore,
  prefix: string,
  round: number,
  g: AftGenerateSettings,
  fresh: AftQuestion[],
  keptBefore: AftQuestion[],
) {
  const stored = await embedRound(store, prefix, round, g, fresh);
  const vectors = new Map<string, number[]>();
  for (let r = 0; r <= round; r++) {
    const e = r === round ? stored.value : await readJson<StoredEmbeddings>(store, embeddingsKey(prefix, r));
    decodeVectors(e).forEach((v, id) => vectors.set(id, v));
  }
  const vectorOf = (q: AftQuestion) => vectors.get(q.id)!;
  const onProgress = (done: number, total: number) => heartbeatIfActivity({ round, deduplicated: done, of: total });
  const dedup: Dedup = dedupDense(fresh.map(vectorOf), g.dedupThreshold, {
    keptBefore: keptBefore.map(vectorOf),
    onProgress,
  });
  return { dedup, usage: stored.fresh ? stored.value.usage : undefined };
}

/**
 * A round's questions after dedup (lexical cosine, or embeddings when set, against every question kept so
 * far) and the ones to answer: spares from earlier rounds first, then this round's, up to `need`.
 * `onEmbedded` gets what embedding this round cost when it was paid now.
 */
export async function selectRound(
  store: ArtifactStore,
  ref: AftDataRef,
  round: number,
  plan: RoundPlan,
  g: AftGenerateSettings,
  before: { keptBefore: AftQuestion[]; spares: AftQuestion[]; need: number; onEmbedded: (u: Usage) => void },
): Promise<RoundSelection> {
  const { keptBefore, spares, need } = before;
  const fresh = await roundQuestions(store, ref, round, plan, g);
  heartbeatIfActivity({ round, deduplicating: fresh.length });
  const all = [...keptBefore, ...fresh];
  let dedup: Dedup;
  if (g.embeddings) {
    const dense = await denseDedup(store, ref.prefix, round, g, fresh, keptBefore);
    if (dense.usage) before.onEmbedded(dense.usage);
    dedup = dense.dedup;
  } else {
    const onProgress = (done: number, total: number) => heartbeatIfActivity({ round, deduplicated: done, of: total });
    dedup = dedupByCosine(
      fresh.map((q) => q.text),
      g.dedupThreshold,
      { keptBefore: keptBefore.map((q) => q.text), onProgress },
    );
  }
  const { duplicateOf, similarity } = dedup;
  const unique = fresh.filter((_, i) => duplicateOf[i] === null);
  const duplicates = fresh.flatMap((q, i) =>
    duplicateOf[i] === null
      ? []
      : [{ id: q.id, of: all[duplicateOf[i]!].id, similarity: Number(similarity[i].toFixed(4)) }],
  );
  return {
    round,
    generated: fresh.length,
    duplicates,
    unique,
    answer: [...spares, ...unique].slice(0, Math.max(0, need)),
  };
}
