import type { Experiment } from '../config/experiment-schema';
import {
  CHARS_PER_TOKEN,
  DOCUMENT_SHARE_OF_MAX,
  documentTokens,
  estimatedTokens,
  unitsForTarget,
  type CorpusSizing,
} from '../config/corpus-size';

export { CHARS_PER_TOKEN, DOCUMENT_SHARE_OF_MAX, documentTokens, estimatedTokens, unitsForTarget };

/**
 * generation.targetTokens after assembly: whether (and by how much) to top up, and how to say where a corpus
 * stands (the units a target plans are src/config/corpus-size.ts's). The corpus stage has no tokenizer, so its
 * token figures are estimates from characters; the tokenize stage counts the base model's tokens exactly. Pure.
 */

/** Calls that add domains to a plan with fewer units than a target needs, before the corpus is planned short. */
export const DOMAIN_ROUNDS = 3;

/**
 * The domains count whose plan should hold `wanted` units, at the units per domain of the plan so far
 * (`units` from `domains`); at least one more domain, so every round asks for something.
 */
export function domainsFor(domains: number, units: number, wanted: number): number {
  const perDomain = units > 0 ? units / domains : 1;
  return Math.max(domains + 1, Math.ceil(wanted / perDomain));
}

/** Top-up rounds after the planned units, each adding units and assembling again. */
export const TOP_UP_ROUNDS = 3;

/** Units added beyond the measured shortfall: new units lose documents to the same drops as the first ones. */
const TOP_UP_MARGIN = 1.05;

export type TopUpStep = { kind: 'reached' } | { kind: 'grow'; units: number } | { kind: 'short'; why: string };

/**
 * After an assembly: the target reached, or how many units the next round plans (from the assembled
 * tokens per unit, so drops and short documents are counted), or why generation stops short.
 */
export function nextTopUp(s: {
  target: number;
  tokens: number;
  units: number;
  rounds: number;
  maxUnits: number;
}): TopUpStep {
  if (s.tokens >= s.target) return { kind: 'reached' };
  if (s.rounds >= TOP_UP_ROUNDS) return { kind: 'short', why: `${TOP_UP_ROUNDS} top-up rounds spent` };
  if (s.units >= s.maxUnits)
    return {
      kind: 'short',
      why: `at generation.maxUnits (${s.maxUnits}): raise it, or typesPerUnit / ideasPerType, to go on`,
    };
  const perUnit = s.tokens / s.units;
  const more = perUnit > 0 ? Math.ceil(((s.target - s.tokens) / perUnit) * TOP_UP_MARGIN) : s.units;
  return { kind: 'grow', units: Math.min(s.maxUnits, s.units + Math.max(1, more)) };
}

/** Where a corpus stands against generation.targetTokens (progress, the returned manifest, the report). */
export interface CorpusTargetStatus {
  targetTokens: number;
  /** The last assembly's estimated tokens (characters / 4 of the kept documents' text). */
  estimatedTokens?: number;
  /** Rounds run after the planned units. */
  topUpRounds: number;
  reached?: boolean;
  /** Not reached: the estimated tokens missing, and why generation stopped. */
  shortBy?: number;
  why?: string;
}

const millions = (n: number) => `${(n / 1e6).toFixed(1)}M`;

/** One line on the target: reached, short (by how much and why), or still being generated. */
export function describeTarget(t: CorpusTargetStatus): string {
  const of = `${t.estimatedTokens === undefined ? '?' : millions(t.estimatedTokens)} of ${millions(t.targetTokens)} estimated tokens`;
  const rounds = `${t.topUpRounds} top-up round${t.topUpRounds === 1 ? '' : 's'}`;
  if (t.reached) return `target reached: ${of} after ${rounds}`;
  if (t.reached === false)
    return `target NOT reached: ${of}, short by ${millions(t.shortBy ?? 0)} after ${rounds} (${t.why})`;
  const last = t.estimatedTokens === undefined ? '' : `: ${millions(t.estimatedTokens)} at the last assembly`;
  return `target ${millions(t.targetTokens)} estimated tokens${last}, ${rounds} so far`;
}

/** What a target implies, before anything runs (`msm validate`). */
export function describeTargetPlan(g: CorpusSizing & Pick<Experiment['generation'], 'maxUnits'>): string | undefined {
  const units = unitsForTarget(g);
  if (units === undefined) return undefined;
  const docs = units * g.typesPerUnit * g.ideasPerType;
  return (
    `generation.targetTokens ${millions(g.targetTokens!)} (estimated: characters / ${CHARS_PER_TOKEN}) plans ${units} units × ` +
    `${g.typesPerUnit} types × ${g.ideasPerType} ideas = ${docs} documents of ≈${Math.round(documentTokens(g))} tokens ` +
    `(${DOCUMENT_SHARE_OF_MAX} × maxDocTokens); short after assembly, up to ${TOP_UP_ROUNDS} top-up rounds add units (maxUnits ${g.maxUnits})`
  );
}
