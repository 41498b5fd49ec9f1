import type { ModelSpec } from './types';
import { renderSpec } from './render-spec';
export { renderSpec };

/**
 * Spec variants for "Model Spec Science": the same rules with more or less of their justification.
 * Only `full` keeps free prose (preamble, section intros, rule explanations), because that prose may
 * carry values too and would blur the comparison.
 */
export type SpecVariant = 'rules' | 'rules+values' | 'rules+subrules' | 'full';
export const SPEC_VARIANTS: readonly SpecVariant[] = ['rules', 'rules+values', 'rules+subrules', 'full'];

export function deriveVariant(spec: ModelSpec, variant: SpecVariant): ModelSpec {
  const full = variant === 'full';
  const values = full || variant === 'rules+values';
  const subrules = full || variant === 'rules+subrules';
  return {
    title: spec.title,
    preamble: full ? spec.preamble : '',
    sections: spec.sections.map((s) => ({
      id: s.id,
      title: s.title,
      intro: full ? s.intro : '',
      rules: s.rules.map((r) => ({
        ...r,
        values: values ? [...r.values] : [],
        explanation: full ? r.explanation : '',
        subrules: subrules ? [...r.subrules] : [],
      })),
    })),
  };
}

/** Spec tokens of each variant, as the experiment's tokenizer counts the rendered text the prompts see. */
export type VariantTokens = Partial<Record<SpecVariant, number>>;

/** Every variant of a spec (before any variant is derived) rendered and counted; `count` gives a text's tokens. */
export async function variantTokens(
  spec: ModelSpec,
  count: (texts: string[]) => Promise<number[]>,
  variants: readonly SpecVariant[] = SPEC_VARIANTS,
): Promise<VariantTokens> {
  const counts = await count(variants.map((v) => renderSpec(deriveVariant(spec, v))));
  return Object.fromEntries(variants.map((v, i) => [v, counts[i]]));
}

/** The length gap between the longest and shortest variant, as a share of the longest (0: equal length). */
export function lengthGap(tokens: VariantTokens): number {
  const n = Object.values(tokens);
  const max = Math.max(...n);
  return n.length < 2 || max <= 0 ? 0 : (max - Math.min(...n)) / max;
}

/** "rules 812, rules+values 1,020, ..." in variant order. */
export const variantTokensText = (tokens: VariantTokens) =>
  SPEC_VARIANTS.filter((v) => tokens[v] !== undefined)
    .map((v) => `${v} ${tokens[v]!.toLocaleString('en-US')}`)
    .join(', ');

/**
 * Model Spec Science compares variants that differ in what they say, not in how much: a variant that is
 * longer also gives the corpus more to write about. A warning (not a refusal) when the gap is over `maxGap`.
 */
export function lengthGapWarning(tokens: VariantTokens, maxGap: number): string | undefined {
  const gap = lengthGap(tokens);
  if (gap <= maxGap) return undefined;
  const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;
  return (
    `variants.maxLengthGap: the spec variants' lengths differ by ${pct(gap)} of the longest (spec tokens: ${variantTokensText(tokens)}), ` +
    `over the ${pct(maxGap)} allowed; a difference between variants may then come from length rather than content: ` +
    'write the variants to matching length (e.g. separate spec files on a sweep axis), or raise variants.maxLengthGap'
  );
}
