import { canonicalJson } from '../util/canonical-json';
import { sha256Hex } from '../util/hash';
import { PROMPT_VERSION, promptVersionOf, type Prompt } from './prompts';

/** One LLM call of a stage, stored with what it produced: which prompt (version, hash, request) and how many items. */
export interface StageCall {
  promptVersion: string;
  /** sha256 of the whole prompt (messages, schema, token cap): equal hashes mean the same request. */
  promptSha256: string;
  /** The user message: the part that differs between calls (the system message is the spec). */
  request: string;
  asked: number;
  /** New items kept from the answer (repeats of stored items dropped). */
  kept: number;
}

/**
 * A stored, append-only list of a stage (types of a unit, ideas of a type, assertions of a unit). Items
 * are only ever appended, so positions — and the document ids built from them — stay stable when a later
 * run asks for more; a run that asks for fewer uses the first n.
 */
export interface StageList<T> {
  promptVersion: string;
  /** The largest count any run asked for: a run asking for no more than this makes no call. */
  requested: number;
  items: T[];
  calls: StageCall[];
}

export const emptyStageList = <T>(): StageList<T> => ({
  promptVersion: PROMPT_VERSION,
  requested: 0,
  items: [],
  calls: [],
});

export function promptSha256(p: Prompt): string {
  return sha256Hex(canonicalJson(p));
}

export function stageCall(p: Prompt, asked: number, kept: number): StageCall {
  const request = p.messages
    .filter((m) => m.role === 'user')
    .map((m) => m.content)
    .join('\n');
  const system = p.messages.find((m) => m.role === 'system')?.content ?? '';
  return { promptVersion: promptVersionOf(system), promptSha256: promptSha256(p), request, asked, kept };
}

const norm = (s: string) => s.trim().toLowerCase().replace(/\s+/g, ' ');

/** `fresh` without items already in `existing` (or repeated within itself), compared case- and space-insensitively. */
export function newItems<T>(existing: T[], fresh: T[], textOf: (t: T) => string): T[] {
  const seen = new Set(existing.map((e) => norm(textOf(e))));
  return fresh.filter((f) => {
    const k = norm(textOf(f));
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
