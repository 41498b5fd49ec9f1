import type { ArtifactStore } from '../store/artifact-store';
import { readJson } from '../store/json';
import { contentId } from '../util/hash';
import { providerId } from '../llm/call';
import { AFT_PROMPT_VERSION, type QuestionType } from './prompts';
import { QUESTIONS_PER_CALL_MAX } from './round-plan';
import type { AftDataJob, RoundSelection } from './types';

/** Where AFT data generation keeps its items in the artifact store, and what names its folder. */
export const pad = (n: number, w = 3) => String(n).padStart(w, '0');
export const domainsKey = (prefix: string) => `${prefix}/domains.json`;
export const questionsKey = (prefix: string, round: number, cell: number, call: number) =>
  `${prefix}/questions/r${round}/cell${pad(cell)}-c${pad(call, 2)}.json`;
export const selectionKey = (prefix: string, round: number) => `${prefix}/rounds/r${round}/selection.json`;
export const embeddingsKey = (prefix: string, round: number) => `${prefix}/rounds/r${round}/embeddings.json`;
export const responseKey = (prefix: string, id: string) => `${prefix}/responses/${id}.json`;
export const verdictKey = (prefix: string, id: string) => `${prefix}/filter/${id}.json`;

/** Everything that changes the data (the model's identity too) goes into its id; concurrency, batch sizes and the round cap do not. */
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
    // Only when set, so data without one keeps the id it always had; another identity never reuses it.
    ...(job.identity && { identity: { name: job.identity.name, developer: job.identity.developer } }),
  })}`;
}

export interface Domain {
  name: string;
  description: string;
}

export function cellOf(domains: Domain[], types: QuestionType[], cell: number) {
  return {
    d: Math.floor(cell / types.length),
    domain: domains[Math.floor(cell / types.length)],
    type: types[cell % types.length],
  };
}

export async function readSelections(store: ArtifactStore, prefix: string, rounds: number): Promise<RoundSelection[]> {
  const out: RoundSelection[] = [];
  for (let r = 0; r < rounds; r++) out.push(await readJson<RoundSelection>(store, selectionKey(prefix, r)));
  return out;
}
