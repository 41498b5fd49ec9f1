import type { EvalLine } from '../eval-set';
import type { Judgment } from '../judge-sample';

/**
 * The bundle of one cell evaluated with msm's own suite (samples from the trainer's generate job, verdicts from
 * msm's judge), as trainer/msm_trainer/inspect_export.py turns it into an Inspect log: Inspect View and
 * inspect_ai.analysis then read these cells like the ones an Inspect task evaluated. Pure: the caller reads
 * samples.jsonl, the judgments and the eval set from the store.
 */
export interface InspectBundle {
  /** "msm/<experiment name>": Inspect groups logs by task. */
  task: string;
  model: string;
  cell: string;
  createdAt: string;
  evalSet: { sha256: string; prompts: number };
  judgeModel: string;
  samples: BundleSample[];
}

export interface BundleSample {
  id: string;
  /** Inspect numbers epochs from 1; msm numbers samples from 0. */
  epoch: number;
  input: Array<{ role: string; content: string }>;
  output: string;
  finishReason: string | null;
  inputTokens: number | null;
  outputTokens: number | null;
  verdict: Judgment['verdict'];
  explanation: string;
  /** Everything else the judgment recorded (condition, executed, target, unjudgedReason...). */
  metadata: Record<string, unknown>;
}

/** A samples.jsonl line of the trainer's generate job. */
interface SampleLine {
  promptId: string;
  sample: number;
  text: string;
  finishReason?: string;
  promptTokens?: number;
  completionTokens?: number;
}

export class OwnSuiteLogError extends Error {
  override name = 'OwnSuiteLogError';
}

export interface OwnSuiteInput {
  task: string;
  model: string;
  cell: string;
  createdAt: string;
  evalSet: { sha256: string; prompts: number };
  judgeModel: string;
  /** The text of the cell's samples.jsonl, and where it was read from (for errors). */
  samplesText: string;
  samplesSource: string;
  judgments: Judgment[];
  lines: EvalLine[];
}

const sampleKey = (promptId: string, sample: number) => `${promptId}#${sample}`;

/** The cell's bundle: every sample in prompt and sample order, each with its prompt and its verdict. */
export function ownSuiteBundle(x: OwnSuiteInput): InspectBundle {
  const prompts = new Map(x.lines.map((l) => [l.id, l.messages]));
  const verdicts = new Map(x.judgments.map((j) => [sampleKey(j.promptId, j.sample), j]));
  const samples = parseSamples(x.samplesText, x.samplesSource)
    .sort((a, b) => a.promptId.localeCompare(b.promptId) || a.sample - b.sample)
    .map((s) => {
      const input = prompts.get(s.promptId);
      if (!input)
        throw new OwnSuiteLogError(
          `${x.samplesSource}: prompt "${s.promptId}" is not in the eval set ${x.evalSet.sha256.slice(0, 16)}: the samples belong to another eval set`,
        );
      return bundleSample(s, input, verdicts.get(sampleKey(s.promptId, s.sample)));
    });
  const { task, model, cell, createdAt, evalSet, judgeModel } = x;
  return { task, model, cell, createdAt, evalSet, judgeModel, samples };
}

function parseSamples(text: string, source: string): SampleLine[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((line, i) => {
      const s = JSON.parse(line) as Partial<SampleLine>;
      if (typeof s.promptId !== 'string' || typeof s.sample !== 'number' || typeof s.text !== 'string')
        throw new OwnSuiteLogError(
          `${source}: line ${i + 1}: a sample needs promptId, sample and text (is this a trainer samples.jsonl?)`,
        );
      return s as SampleLine;
    });
}

/** Fields of a Judgment the bundle carries elsewhere; the rest goes to the sample's metadata. */
const CARRIED = new Set(['promptId', 'sample', 'verdict', 'reasoning', 'finishReason', 'completionTokens']);

function bundleSample(s: SampleLine, input: BundleSample['input'], j: Judgment | undefined): BundleSample {
  const tokens = (n: number | undefined) => (typeof n === 'number' ? n : null);
  const base = {
    id: s.promptId,
    epoch: s.sample + 1,
    input,
    output: s.text,
    finishReason: s.finishReason ?? null,
    inputTokens: tokens(s.promptTokens),
    outputTokens: tokens(s.completionTokens),
  };
  // A finished run judged every sample; one without a verdict is shown unjudged rather than silently dropped.
  if (!j)
    return {
      ...base,
      verdict: 'unjudged',
      explanation: 'no verdict: no judgment is stored for this sample',
      metadata: { unjudgedReason: 'no stored judgment' },
    };
  const metadata = Object.fromEntries(Object.entries(j).filter(([k, v]) => !CARRIED.has(k) && v !== undefined));
  return { ...base, verdict: j.verdict, explanation: j.reasoning, metadata };
}
