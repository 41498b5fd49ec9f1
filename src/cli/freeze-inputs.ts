import { freezeExperimentFiles, FrozenInputError } from '../config/frozen-inputs';
import {
  InvalidExperimentError,
  parseExperiment,
  type ExperimentInput,
  type FrozenInputs,
} from '../config/experiment-schema';
import { InvalidSweepError } from '../sweep/grid';
import { experimentBaseDir } from '../plan/plan-inputs';
import { openStore, resolveStoreUri } from '../store/open-store';
import { freezeSweepFiles, withFrozenBase } from '../sweep/frozen-sweep-inputs';
import type { SweepInput } from '../sweep/sweep-schema';
import { PROJECT_ROOT } from '../util/project-paths';

/**
 * The client's half of inputs frozen at start (src/config/frozen-inputs.ts): every input file the
 * experiment names goes into its store now, and the workflow input carries their hashes.
 */
export async function freezeExperimentInput(raw: ExperimentInput, source: string): Promise<ExperimentInput> {
  const x = parseExperiment(raw, source);
  const baseDir = experimentBaseDir(x, PROJECT_ROOT);
  const store = openStore(resolveStoreUri(x.store, baseDir));
  const frozen = await intoStore(store.rootUri, () => freezeExperimentFiles(x, baseDir, store, { now: new Date() }));
  report(frozen, store.rootUri);
  return { ...raw, frozenInputs: frozen };
}

/** A sweep's files, every point's (or only `points`, for `msm sweep retry`), into its base experiment. */
export async function freezeSweepInput(input: SweepInput, points?: string[]): Promise<SweepInput> {
  const frozen = await intoStore('the points’ stores', () => freezeSweepFiles(input, { now: new Date(), points }));
  report(frozen, 'the points’ stores');
  return withFrozenBase(input, frozen);
}

/** On stderr: stdout of `msm start` and `msm sweep` is the workflow id alone. */
function report(frozen: FrozenInputs, where: string): void {
  const files = Object.entries(frozen).map(([p, f]) => `${p} (sha256 ${f.sha256.slice(0, 12)}…)`);
  console.error(`froze ${files.length} input file(s) in ${where}: ${files.join(', ')}`);
}

/** A store this machine cannot write (S3 without credentials here) says so and what to do. */
async function intoStore<T>(where: string, freeze: () => Promise<T>): Promise<T> {
  try {
    return await freeze();
  } catch (e) {
    if (e instanceof FrozenInputError || e instanceof InvalidExperimentError || e instanceof InvalidSweepError) throw e;
    throw new Error(
      `cannot put the input files in ${where}: ${(e as Error).message}; the machine that starts a run writes its inputs to the experiment's store: give it the store's access (for S3: MSM_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)`,
      { cause: e },
    );
  }
}
