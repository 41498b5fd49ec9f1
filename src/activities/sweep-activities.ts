import { readInput } from '../experiment/check-experiment';
import { FrozenInputError, type InputFile } from '../config/frozen-inputs';
import { InvalidExperimentError, type FrozenInputs } from '../config/experiment-schema';
import type { Results } from '../report/results';
import { freezeSweepFiles } from '../sweep/frozen-sweep-inputs';
import { InvalidSweepError } from '../sweep/grid';
import type { SweepInput } from '../sweep/sweep-schema';
import { badInput } from '../temporal/failures';
import { readJson } from '../store/json';
import { openStore } from '../store/open-store';
import {
  storeRootOf,
  writeSweepComparison,
  type SweepCompareRequest,
  type SweepComparison,
} from '../sweep/compare-sweep';

/** A results.json by its URI, from the store that holds it. */
async function readResults(resultsUri: string): Promise<Results> {
  const root = storeRootOf(resultsUri);
  return readJson<Results>(openStore(root), resultsUri.slice(root.length + 1));
}

export function createSweepActivities() {
  return {
    /**
     * A sweep started with paths only: every point's input files frozen in its store, once, at the start.
     * A file that cannot be read is left out: its point fails alone, with the loader's message.
     */
    async freezeSweepInputs(input: SweepInput): Promise<FrozenInputs> {
      try {
        // Read as the loader reads (its checks on paths apply); a file it refuses is left to the point's load.
        const read = (baseDir: string, f: InputFile) => readInput(baseDir, f.path, f.field);
        return await freezeSweepFiles(input, { now: new Date(), unreadable: 'skip', read });
      } catch (e) {
        if (e instanceof FrozenInputError || e instanceof InvalidSweepError || e instanceof InvalidExperimentError)
          throw badInput(e.message, e);
        throw e;
      }
    },
    /** The sweep's comparison, in the store of its first finished point; null when no point finished. */
    async compareSweep(req: SweepCompareRequest): Promise<SweepComparison | null> {
      const first = req.points.find((p) => p.status === 'done' && p.resultsUri);
      if (!first) return null;
      return writeSweepComparison(openStore(storeRootOf(first.resultsUri!)), req, readResults);
    },
  };
}
