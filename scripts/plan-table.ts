/**
 * The README's table of the memory planner's figures, computed by the planner itself:
 * `node_modules/.bin/tsx scripts/plan-table.ts` prints Markdown. GiB per GPU at micro-batch 1 with
 * gradient checkpointing on, LoRA r=64 and full fine-tuning, sequence 4096 and 8192.
 */
import { GIB, trainPeak } from '../src/plan/memory';
import { KNOWN_MODELS } from '../src/plan/models';

const MODELS: Array<[string, string]> = [
  ['llama-3.1-8b', 'Llama 3.1 8B'],
  ['qwen2.5-32b', 'Qwen2.5-32B'],
  ['qwen3-32b', 'Qwen3-32B'],
];
const GPUS: Array<{ label: string; gpus: number; gib: number }> = [
  { label: '1 × 80 GB', gpus: 1, gib: 79.2 },
  { label: '2 × 80 GB', gpus: 2, gib: 79.2 },
  { label: '4 × 80 GB', gpus: 4, gib: 79.2 },
  { label: '8 × 80 GB', gpus: 8, gib: 79.2 },
  { label: '1 × 141 GB', gpus: 1, gib: 139.8 },
];

function cell(key: string, method: 'lora' | 'full', seqLen: number, gpus: number, gib: number): string {
  const peak =
    trainPeak({ model: KNOWN_MODELS[key], method, loraR: 64, seqLen, microBatch: 1, checkpointing: true, world: gpus })
      .total / GIB;
  return `${peak.toFixed(1)}${peak <= gib ? '' : ' ✗'}`;
}

const rows = [
  `| model | method | seq | ${GPUS.map((g) => g.label).join(' | ')} |`,
  `|---|---|---|${GPUS.map(() => '---:').join('|')}|`,
];
for (const [key, name] of MODELS) {
  for (const method of ['lora', 'full'] as const) {
    for (const seqLen of [4096, 8192])
      rows.push(
        `| ${name} | ${method === 'lora' ? 'LoRA' : 'full'} | ${seqLen} | ${GPUS.map((g) => cell(key, method, seqLen, g.gpus, g.gib)).join(' | ')} |`,
      );
  }
}
console.log(rows.join('\n'));
