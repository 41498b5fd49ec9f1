import type { ModelSpec } from './types';
export { renderSpec } from './render-spec';

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
