import type { Experiment } from '../config/experiment-schema';
import type { ModelIdentity } from '../config/model-identity';
import { promptVersionOf } from './prompts';
import { contentId } from '../util/hash';
import { providerId } from '../llm/call';

/**
 * Where a corpus keeps its stages in the artifact store. Positions (unit u, type t, idea i) name every
 * item; lists only grow, so a position always names the same item and document ids stay stable.
 */
const pad = (n: number, w = 4) => String(n).padStart(w, '0');
export const domainsKey = (prefix: string) => `${prefix}/domains.json`;
export const unitsKey = (prefix: string) => `${prefix}/units.json`;
export const assertionsKey = (prefix: string, u: number) => `${prefix}/assertions/u${pad(u)}.json`;
export const typesKey = (prefix: string, u: number) => `${prefix}/types/u${pad(u)}.json`;
export const ideasKey = (prefix: string, u: number, t: number) => `${prefix}/ideas/u${pad(u)}-t${pad(t, 2)}.json`;
export const docKey = (prefix: string, id: string) => `${prefix}/docs/${id}.json`;
export const docId = (u: number, t: number, i: number) => `u${pad(u)}-t${pad(t, 2)}-i${pad(i, 2)}`;

/** Position of a document id, or undefined for a name that is not one. */
export function docPosition(id: string): { u: number; t: number; i: number } | undefined {
  const m = /^u(\d+)-t(\d+)-i(\d+)$/.exec(id);
  return m ? { u: Number(m[1]), t: Number(m[2]), i: Number(m[3]) } : undefined;
}

/**
 * Everything that changes what an item is goes into the corpus id (the prompt set: of the spec's text; the
 * model's identity), so equal inputs reuse one corpus across
 * experiments. The counts (domains, maxUnits, typesPerUnit, ideasPerType) are not in it: a run with larger
 * counts tops up the stored lists, one with smaller counts uses their first n (see CorpusSelection).
 */
export function corpusPrefix(
  job: { specHash: string; generation: Experiment['generation']; identity?: ModelIdentity; draw?: number },
  specMarkdown: string,
): string {
  const g = job.generation;
  return `corpus/${contentId({
    spec: job.specHash,
    prompts: promptVersionOf(specMarkdown),
    generator: providerId(g.provider),
    temperature: g.temperature,
    mode: g.mode,
    maxDocTokens: g.maxDocTokens,
    // Only when set, so a corpus without one keeps the id it always had; another identity never reuses it.
    ...(job.identity && { identity: { name: job.identity.name, developer: job.identity.developer } }),
    // Another draw of the same corpus (midtrain.seeds): new keys, so new seeds and new items. Draw 0 has none.
    ...(job.draw ? { draw: job.draw } : {}),
  })}`;
}
