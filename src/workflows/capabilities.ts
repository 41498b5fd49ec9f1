import type { Arm } from '../config/arms';
import { isControl } from '../config/arms';
import type { CapabilityRequest, CapabilityResult } from '../eval/capabilities/types';
import type { LoadedExperiment } from '../config/loaded-experiment';
import { cleanup, gpuStoppedOnCancel } from './activity-proxies';
import { runBounded } from './bounded';
import type { CellProgress } from './definitions';
import { releaseAfterFailure } from './machine-cleanup';

/** A cell of the sweep and the model it ended with. */
export interface CheckedCell {
  cell: CellProgress;
  modelUri: string | null;
  /** An external arm's model (then modelUri is null). */
  externalModel?: string;
}

/**
 * The model each arm's capability checks run on: its largest fraction at its first seed (the cell of the
 * primary contrast, by default); a control's own model. Pure.
 */
export function capabilityCells(arms: Arm[], cells: CheckedCell[], firstSeed: number): CheckedCell[] {
  return arms.flatMap((arm) => {
    // midtrain.seeds: the checks run on the first midtraining's models (seed 0).
    const mine = cells.filter((c) => c.cell.arm === arm.name && (c.cell.midtrainSeed ?? 0) === 0);
    if (isControl(arm)) return mine.slice(0, 1);
    const atSeed = mine.filter((c) => c.cell.seed === firstSeed);
    const largest = Math.max(...atSeed.map((c) => c.cell.fraction));
    return atSeed.filter((c) => c.cell.fraction === largest).slice(0, 1);
  });
}

/** What the checks need of the experiment run. */
export interface CapabilityStage {
  storeUri: string;
  loaded: LoadedExperiment;
  tokenizerUri: string;
  concurrency: () => number;
  canStart: () => boolean;
  /** compute.budgetUsd: a wait while it is spent (undefined: go on in the same step). */
  allowNewJob: (what: string) => Promise<void> | undefined;
  addCompute: (r: CapabilityResult) => void;
}

/** eval.capabilities: one job per arm, under the sweep's concurrency; a failed job's machines are released. */
export async function checkCapabilities(stage: CapabilityStage, cells: CheckedCell[]): Promise<CapabilityResult[]> {
  const x = stage.loaded.experiment;
  return runBounded(cells.length, stage.concurrency, stage.canStart, async (i) => {
    const { cell, modelUri, externalModel } = cells[i];
    const req: CapabilityRequest = {
      storeUri: stage.storeUri,
      label: `capabilities-${cell.arm}`,
      arm: cell.arm,
      cell: { id: cell.id, fraction: cell.fraction, seed: cell.seed },
      modelUri,
      ...(externalModel && { externalModel }),
      tokenizerUri: stage.tokenizerUri,
      checks: x.eval.capabilities ?? [],
      questions: stage.loaded.capabilityQuestions ?? {},
      experiment: { baseModel: x.baseModel, compute: x.compute, eval: x.eval },
    };
    const overBudget = stage.allowNewJob(`the capability checks of ${cell.arm}`);
    if (overBudget) await overBudget;
    try {
      const result = await gpuStoppedOnCancel.runCapabilityChecks(req);
      stage.addCompute(result);
      return result;
    } catch (e) {
      await releaseAfterFailure(() => cleanup.releaseCapabilityMachines(req));
      throw e;
    }
  });
}
