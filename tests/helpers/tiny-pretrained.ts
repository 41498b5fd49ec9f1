import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT, pythonExecutable } from '../../src/util/project-paths';

/** The local Gemma 3 270M that set-up makes (scripts/setup.sh). */
export const GEMMA = path.join(PROJECT_ROOT, '.msm', 'models', 'gemma-3-270m');

/**
 * A pretrained-format model folder with Gemma 3's architecture, tokenizer and chat template and 2 layers of
 * width 64 (trainer/tests/tiny_gemma.py, which the trainer's own tests use too): loaded the way Gemma is
 * (`init: pretrained`, `path`) by the trainer and by Inspect, at a fraction of the cost. For tests of the
 * plumbing around a pretrained model, not of what its weights know (those use GEMMA itself). Returns `dir`.
 */
export function tinyGemmaFolder(dir: string): string {
  const r = spawnSync(pythonExecutable(), ['tests/tiny_gemma.py', GEMMA, dir], {
    cwd: path.join(PROJECT_ROOT, 'trainer'),
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`could not make a tiny Gemma in ${dir}: ${r.stderr.slice(-2000)}`);
  return dir;
}
