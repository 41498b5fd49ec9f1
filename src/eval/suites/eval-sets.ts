import { expandAgentic, loadAgenticSuite } from './agentic';
import { expandCheeseValues, loadCheeseValuesSuite } from './cheese-values';
import { toJsonl } from './to-jsonl';

/**
 * The generated eval files committed under experiments/data/, each with the generator that writes it.
 * scripts/build-eval-sets.ts rewrites them; a test checks that the committed bytes are what the
 * generators produce now.
 */
export const GENERATED_EVAL_SETS: ReadonlyArray<{ file: string; build: () => string }> = [
  { file: 'experiments/data/agentic-eval.jsonl', build: () => toJsonl(expandAgentic(loadAgenticSuite())) },
  {
    file: 'experiments/data/cheese-values-eval.jsonl',
    build: () => toJsonl(expandCheeseValues(loadCheeseValuesSuite())),
  },
];
