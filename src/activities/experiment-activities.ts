import { log } from '@temporalio/activity';
import { checkExperiment, type ExperimentCheck } from '../experiment/check-experiment';
import { InvalidExperimentError, type Experiment } from '../config/experiment-schema';
import { PlanRefusedError } from '../plan/plan';
import { BudgetRefusedError } from '../plan/cost';
import { ModelConfigError } from '../plan/plan-inputs';
import { openStore, resolveStoreUri } from '../store/open-store';
import { FrozenInputError, frozenInputReader } from '../config/frozen-inputs';
import { renderSpec } from '../model-spec/spec-variants';
import { specHash } from '../model-spec/spec-hash';
import type { ModelSpec } from '../model-spec/types';
import { TokenizeInputError } from '../tokenize/errors';
import { sha256Hex } from '../util/hash';
import { badInput } from '../temporal/failures';
import type { LoadedExperiment } from '../config/loaded-experiment';

// Where it always was, for the modules that import it from here.
export { resolveStoreUri };

export function createExperimentActivities() {
  return {
    /**
     * Validate the experiment, parse the spec and copy every input into the artifact store, so the rest
     * of the run depends only on content-addressed artifacts. Bad input fails here, once, non-retryably.
     */
    async loadExperiment(raw: unknown): Promise<LoadedExperiment> {
      const checked = await checkedInput(raw);
      for (const w of checked.warnings) log.warn(`experiment: ${w}`);
      const { experiment, baseDir } = checked;
      const storeUri = resolveStoreUri(experiment.store, baseDir);
      const store = openStore(storeUri);
      const spec = checked.spec.parsed;
      const { key: specKey, hash } = await storeSpec(store, spec);
      // Placebo arms: the unrelated spec, stored the same way (its own hash keys its corpus apart from the MSM one).
      const placebo = checked.placeboSpec && {
        ...(await storeSpec(store, checked.placeboSpec.parsed)),
        title: checked.placeboSpec.parsed.title,
        path: checked.placeboSpec.path,
      };
      // aft.generate: the spec its data is generated from, aft.generate.spec stored like the others, or the
      // experiment's own (the same key and hash, so the AFT data keeps the id it always had).
      const aftSpec = checked.aftSpec
        ? {
            ...(await storeSpec(store, checked.aftSpec.parsed)),
            title: checked.aftSpec.parsed.title,
            path: checked.aftSpec.path,
          }
        : experiment.aft.generate && { key: specKey, hash, title: spec.title };
      // With aft.generate the data does not exist yet: the experiment generates it from the spec.
      const aftData = checked.aft && (await storeInput(store, 'aft', checked.aft.text, checked.aft.examples));
      const mixData = checked.mix && (await storeInput(store, 'mix', checked.mix.text, checked.mix.examples));
      const evalSha = sha256Hex(checked.evalSet.text);
      const evalKey = `inputs/eval-${evalSha.slice(0, 16)}.jsonl`;
      if (!(await store.exists(evalKey))) await store.put(evalKey, checked.evalSet.text);
      const reasoningData =
        checked.reasoning && (await storeInput(store, 'aft', checked.reasoning.text, checked.reasoning.examples));
      const capabilityQuestions = await storeQuestionFiles(store, checked.capabilityQuestions);
      return {
        experiment,
        storeUri,
        spec: {
          key: specKey,
          hash,
          title: spec.title,
          variant: experiment.specVariant,
          sections: spec.sections.length,
          rules: spec.sections.reduce((n, s) => n + s.rules.length, 0),
          // Every variant's length, for the report: Model Spec Science compares variants of equal length.
          ...(checked.specTokens && { variantTokens: checked.specTokens }),
        },
        ...(placebo ? { placeboSpec: placebo } : {}),
        ...(aftSpec ? { aftSpec } : {}),
        aftData,
        ...(mixData ? { mixData } : {}),
        ...(reasoningData ? { reasoningData } : {}),
        evalSet: {
          key: evalKey,
          sha256: evalSha,
          prompts: checked.evalSet.lines.length,
          split: checked.evalSet.split,
          of: checked.evalSet.of,
        },
        aftSubsets: checked.subsets,
        ...(capabilityQuestions && { capabilityQuestions }),
      };
    },
  };
}

/** Every check `msm validate` makes (src/experiment/check-experiment.ts); each refusal is bad input. */
async function checkedInput(raw: unknown): Promise<ExperimentCheck> {
  try {
    return await checkExperiment(raw, 'workflow input', frozenReaderOf, { specTokens: true });
  } catch (e) {
    if (
      e instanceof InvalidExperimentError ||
      e instanceof FrozenInputError ||
      e instanceof PlanRefusedError ||
      e instanceof BudgetRefusedError ||
      e instanceof ModelConfigError ||
      e instanceof TokenizeInputError
    ) {
      throw badInput(e.message, e);
    }
    throw e;
  }
}

/** A run started with frozen inputs (msm start) reads them by hash from its own store. */
const frozenReaderOf = (x: Experiment, baseDir: string) =>
  x.frozenInputs && frozenInputReader(x.frozenInputs, openStore(resolveStoreUri(x.store, baseDir)), baseDir);

/** A spec as rendered, under its hash. */
async function storeSpec(store: ReturnType<typeof openStore>, spec: ModelSpec): Promise<{ key: string; hash: string }> {
  const hash = specHash(spec);
  const key = `inputs/spec-${hash.slice(0, 16)}.md`;
  if (!(await store.exists(key))) await store.put(key, renderSpec(spec));
  return { key, hash };
}

/** An input file under its content hash, so equal inputs are stored once. */
async function storeInput(
  store: ReturnType<typeof openStore>,
  kind: 'aft' | 'mix' | 'questions',
  text: string,
  examples: number,
) {
  const sha256 = sha256Hex(text);
  const key = `inputs/${kind}-${sha256.slice(0, 16)}.jsonl`;
  if (!(await store.exists(key))) await store.put(key, text);
  return { key, sha256, examples };
}

/** eval.capabilities' question files, stored like the other inputs (undefined: no check reads one). */
async function storeQuestionFiles(
  store: ReturnType<typeof openStore>,
  files: ExperimentCheck['capabilityQuestions'],
): Promise<LoadedExperiment['capabilityQuestions']> {
  if (!files) return undefined;
  const out: NonNullable<LoadedExperiment['capabilityQuestions']> = {};
  for (const [name, f] of Object.entries(files)) {
    const { key, sha256 } = await storeInput(store, 'questions', f.text, f.questions);
    out[name] = { key, sha256, questions: f.questions };
  }
  return out;
}
