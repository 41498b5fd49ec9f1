/**
 * The memory planner beside what the trainer measured on a GPU (torch.cuda.max_memory_allocated, the
 * `peak_memory_bytes` the trainer reports): node --import tsx scripts/plan-calibration.ts [results.jsonl ...]
 * Reads bench/results/*.jsonl (lines of `npm run bench -- train` / bench/gpu-paper-models.sh) and prints, per
 * run, the planner's allocated estimate (no overhead or fragmentation: the measurement has neither) and the ratio.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { GIB, trainPeak } from '../src/plan/memory';
import { KNOWN_MODELS } from '../src/plan/models';

interface BenchLine {
  gpu: string;
  preset: string;
  method: 'lora' | 'full';
  micro: number;
  seq: number;
  gradientCheckpointing: boolean | number;
  peakMemoryGiB: number | null;
}

const ckptLabel = (c: boolean | number) => (c === true ? ' ckpt' : c ? ` ckpt ${c}` : '');

const dir = path.join(__dirname, '..', 'bench', 'results');
const files =
  process.argv.length > 2
    ? process.argv.slice(2)
    : readdirSync(dir)
        .filter((f) => f.endsWith('.jsonl'))
        .map((f) => path.join(dir, f));
const rows = [];
for (const f of files) {
  for (const line of readFileSync(f, 'utf8').split('\n').filter(Boolean)) {
    const b = JSON.parse(line) as BenchLine;
    const model = KNOWN_MODELS[b.preset];
    if (!model || !b.peakMemoryGiB) continue;
    const est = trainPeak({
      model,
      method: b.method,
      loraR: 64,
      seqLen: b.seq,
      microBatch: b.micro,
      checkpointing: b.gradientCheckpointing,
      world: 1,
    });
    const allocated = (est.total - est.overhead) / GIB;
    rows.push({
      gpu: b.gpu,
      job: `${b.preset} ${b.method} seq ${b.seq} micro ${b.micro}${ckptLabel(b.gradientCheckpointing)}`,
      measuredGiB: b.peakMemoryGiB,
      plannedGiB: +allocated.toFixed(2),
      ratio: +(allocated / b.peakMemoryGiB).toFixed(3),
      plannedWithOverheadGiB: +(est.total / GIB).toFixed(2),
    });
  }
}
for (const r of rows)
  console.log(
    `${r.gpu}: ${r.job}: measured ${r.measuredGiB} GiB, planned ${r.plannedGiB} GiB allocated (×${r.ratio}), ${r.plannedWithOverheadGiB} GiB with overhead`,
  );
console.log(JSON.stringify({ calibration: rows }));
