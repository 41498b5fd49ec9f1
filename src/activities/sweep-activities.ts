import type { Results } from '../report/results';
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
    /** The sweep's comparison, in the store of its first finished point; null when no point finished. */
    async compareSweep(req: SweepCompareRequest): Promise<SweepComparison | null> {
      const first = req.points.find((p) => p.status === 'done' && p.resultsUri);
      if (!first) return null;
      return writeSweepComparison(openStore(storeRootOf(first.resultsUri!)), req, readResults);
    },
  };
}
