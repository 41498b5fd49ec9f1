import type { ExperimentInput } from '../../src/config/experiment-schema';
import { scriptedExperiment } from './scripted-experiment';
import { defaultContent, type ChatRequestBody } from './scripted-llm-server';

/**
 * The arms experiment (scripts/record-arms-histories.ts, whose recorded history tests/workflows/replay.test.ts replays): every kind of arm
 * on the scripted experiment — controls base and msm-only, baseline, msm, deliberative (trained on the
 * with-reasoning file aft.generate writes beside the answers-only one) and spec-in-context.
 */
export const ARMS = ['base', 'msm-only', 'baseline', 'msm', 'deliberative', 'spec-in-context'];

/** AFT responses need a closed think block (the rule style cites the spec in it); the rest: schema-shaped defaults. */
export function armsRespond(body: ChatRequestBody): string {
  const system = body.messages?.[0]?.content ?? '';
  if (system.startsWith('You are an AI assistant that follows')) {
    return `<think>The spec's rule applies here; citing it, the answer follows.</think>\n\n${defaultContent(body)}`;
  }
  return defaultContent(body);
}

export function armsExperiment(name: string, llmBaseUrl: string): { store: string; input: ExperimentInput } {
  const { store, input } = scriptedExperiment(name, llmBaseUrl);
  const provider = { kind: 'openai', baseUrl: llmBaseUrl, model: 'scripted-writer', timeoutMs: 10_000 };
  input.midtrain = { method: 'full', lr: 0.001, batchSize: 4, maxSteps: 3, checkpointEverySteps: 50 };
  input.aft = {
    ...input.aft,
    data: undefined,
    generate: {
      provider,
      count: 4,
      domains: 2,
      questionTypes: ['direct', 'edge-case'],
      filter: false,
      style: 'rule',
      train: 'without-reasoning',
    },
    arms: ARMS,
  } as typeof input.aft;
  return { store, input };
}
