/**
 * Regenerate the committed eval files from their suites' data (evals/):
 *   node --import tsx scripts/build-eval-sets.ts
 * Each file is validated as an eval set before it is written.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { GENERATED_EVAL_SETS } from '../src/eval/suites/eval-sets';
import { parseEvalSet } from '../src/eval/eval-set';
import { PROJECT_ROOT } from '../src/util/project-paths';

for (const { file, build } of GENERATED_EVAL_SETS) {
  const text = build();
  const lines = parseEvalSet(text, file);
  writeFileSync(path.join(PROJECT_ROOT, file), text);
  console.log(`${file}: ${lines.length} lines`);
}
