import { freezeExperimentFiles, mergeFrozen, type FreezeOptions } from '../config/frozen-inputs';
import { parseExperiment, type FrozenInputs } from '../config/experiment-schema';
import { experimentBaseDir } from '../plan/plan-inputs';
import { openStore, resolveStoreUri } from '../store/open-store';
import { PROJECT_ROOT } from '../util/project-paths';
import { expandSweep } from './grid';
import type { SweepInput } from './sweep-schema';

/**
 * Freeze the input files of a sweep's points (all, or those in `points`) into each point's store: one map
 * for the base experiment, so every point, however late it starts, reads the bytes frozen now.
 */
export async function freezeSweepFiles(
  input: SweepInput,
  opts: FreezeOptions & { points?: string[] },
): Promise<FrozenInputs> {
  const parts: Array<{ id: string; frozen: FrozenInputs }> = [];
  for (const p of expandSweep(input)) {
    if (opts.points && !opts.points.includes(p.id)) continue;
    const x = parseExperiment(p.experiment, `sweep ${input.name}, point ${p.id}`);
    const baseDir = experimentBaseDir(x, PROJECT_ROOT);
    const store = openStore(resolveStoreUri(x.store, baseDir));
    parts.push({ id: p.id, frozen: await freezeExperimentFiles(x, baseDir, store, opts) });
  }
  return mergeFrozen(parts);
}

/** The sweep with `frozen` in its base experiment (over what it held: a re-frozen file replaces its entry). */
export const withFrozenBase = (input: SweepInput, frozen: FrozenInputs): SweepInput => ({
  ...input,
  base: { ...input.base, frozenInputs: { ...input.base.frozenInputs, ...frozen } },
});
