import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT, pythonExecutable } from '../../src/util/project-paths';

/** The local Gemma 3 270M that set-up makes (scripts/setup.sh). */
export const GEMMA = path.join(PROJECT_ROOT, '.msm', 'models', 'gemma-3-270m');

// Gemma 3's architecture, tokenizer and chat template with 2 layers of width 64: one sliding-window layer and
// one full-attention layer, as the real model interleaves them. Seeded, so every run has the same weights.
const MAKE = `
import shutil, sys
from pathlib import Path
import torch
from transformers import AutoConfig, AutoModelForCausalLM
src, out = Path(sys.argv[1]), Path(sys.argv[2])
cfg = AutoConfig.from_pretrained(src)
cfg.update(dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, head_dim=32, query_pre_attn_scalar=32,
                layer_types=["sliding_attention", "full_attention"], dtype="float32"))
torch.manual_seed(0)
AutoModelForCausalLM.from_config(cfg).save_pretrained(out)
for f in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
    shutil.copy(src / f, out / f)
`;

/**
 * A pretrained-format model folder as small as a test wants, loaded the way Gemma is (`init: pretrained`,
 * `path`) by the trainer and by Inspect, at a fraction of the cost: for tests of the plumbing around a
 * pretrained model, not of what its weights know (those use GEMMA itself). Returns `dir`.
 */
export function tinyGemmaFolder(dir: string): string {
  const r = spawnSync(pythonExecutable(), ['-c', MAKE, GEMMA, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`could not make a tiny Gemma in ${dir}: ${r.stderr.slice(-2000)}`);
  return dir;
}
