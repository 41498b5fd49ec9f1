import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

export type Stage = 'loading' | 'corpus' | 'tokenize' | 'midtrain' | 'aft-sweep' | 'report' | 'done' | 'failed';

export interface CellProgress {
  id: string;
  arm: 'baseline' | 'msm';
  fraction: number;
  seed: number;
  status: 'pending' | 'training' | 'evaluating' | 'done';
  rate?: number;
}

export interface ExperimentProgress {
  stage: Stage;
  paused: boolean;
  spec?: { title: string; hash: string };
  corpus?: { documents: number; truncated: number; truncatedDropped: number; duplicatesRemoved: number; hash: string };
  tokens?: { sequences: number; tokens: number };
  midtrain?: { outputUri: string; finalLoss?: number; resumedFromStep: number | null };
  cells: CellProgress[];
  sweepConcurrency: number;
  report?: { htmlUri: string; resultsUri: string; htmlPath: string | null };
}

export interface CorpusProgress {
  units: number;
  unitsWithIdeas: number;
  unitsWithDocs: number;
  documentsGenerated: number;
  documentsReused: number;
  truncated: number;
  llmCalls: number;
  paused: boolean;
}

export const progressQuery = defineQuery<ExperimentProgress>('progress');
export const corpusProgressQuery = defineQuery<CorpusProgress>('progress');
/** Pause holds new work at the next stage/batch boundary; running activities finish. */
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
/** Change how many AFT cells (or generation batches) run at once; returns the value now in force. */
export const setConcurrencyUpdate = defineUpdate<number, [number]>('setConcurrency');
