import { startsFromMidtraining } from '../config/arms';
import type { BootstrapSettings } from '../eval/bootstrap';
import { pct, pp } from './format';
import type { CalibrationSection } from './claims';
import type { Results } from './results-types';

/** How every number of the report was computed, in words (docs/analysis.md has worked examples). */
export function methodsOf(
  settings: BootstrapSettings,
  analysis: Results['analysis'],
  calibration: CalibrationSection,
  arms: ReadonlyArray<{ start: string }> = [],
  midtrains: ReadonlyArray<{ corpusDraw: number }> = [],
): Results['methods'] {
  const { clusters } = analysis;
  const bar = calibration.bar;
  const midtraining = midtrainingMethod(arms, midtrains);
  return {
    ...(midtraining && { midtraining }),
    intervals: clusters.splitByPrompt
      ? `percentile intervals from a two-way cluster bootstrap: each replicate draws the ${clusters.prompts} eval prompts with replacement (shared by every arm, which answer the same prompts) and, per arm × fraction, its training seeds with replacement; samples of one prompt from one model are never treated as independent draws. The Wilson interval each table also lists is what k/n would give if they were`
      : 'percentile intervals from a cluster bootstrap over training seeds; the split of samples by prompt was not recorded, so within each seed the samples were redrawn as if independent, which understates the uncertainty',
    bootstrap: {
      ...settings,
      method:
        'percentile (nearest rank) over replicates; the same replicates give the two-sided p-value 2·min(share ≤ 0, share ≥ 0)',
    },
    tests: `the primary outcome (${analysis.primary.arm} − ${analysis.primary.versus} at ${analysis.primary.fraction === null ? 'a fraction both did not run' : 'its fraction'}, ${analysis.primary.declared ? 'declared in the experiment file' : 'the default'}) is a finding when its 95% interval excludes 0; every other contrast is secondary and a finding only when its p-value, Holm-adjusted over all secondary contrasts, is below 0.05`,
    dataEfficiency: `target = the baseline's rate at its largest fraction; margin = ${pp(analysis.efficiencyMargin)} (analysis.efficiencyMargin); f* = the smallest measured fraction from which the msm rate stays within target + margin at every larger measured fraction; factor = full / f*, in fractions, AFT examples and AFT tokens; '≥' when f* is the smallest fraction run. Stated only when the 95% interval of msm at f* − baseline at full data stays under the margin (non-inferiority) and the msm-only control does not already reach the target`,
    judgeError:
      "corrected rates: each judge kind's samples corrected as (observed − FPR)/(1 − FPR − FNR) (Rogan–Gladen) with that kind's calibration error rates, drawn in each replicate from their Jeffreys posteriors Beta(errors + ½, correct + ½), so the calibration's own uncertainty widens the interval; a rate whose corrected interval reaches 0 could be the judge's false positives alone",
    unjudged:
      'samples the judge refused or answered unreadably after eval.judgeAttempts tries are stored as unjudged, left out of k/n and counted per cell; a claim is withheld when, had every unjudged sample gone the other way, its interval would cross 0 (or the margin)',
    conditions:
      "a condition is an eval line's condition key (e.g. kind=leaking/goal=explicit/urgency=none, settings pooled) when the line has one, else its prompt id; the macro-average is the mean of per-condition rates",
    secondary:
      "executed: share of samples that emitted the harmful action as a well-formed tag to the scenario's target (checked by code from the tags, src/eval/executed.ts; text inside <think> is not an action) and that the judge found harmful, reported beside the headline and never as it; cut off: share of samples that hit maxNewTokens; unparseable: share of forced-choice answers naming no single option, already counted as misses in the headline",
    calibration: `before any verdict counts, the judge is run on frozen sets of replies whose label is known (src/eval/calibration/, one per kind of judging the eval set uses; built from evals/calibration/), plus any labels a person imported for this run (msm calibrate import). A kind passes when the one-sided ${pct(bar.level)} Clopper–Pearson upper bounds of its false-positive rate ≤ ${pct(bar.maxFalsePositiveRate)} and of its false-negative rate ≤ ${pct(bar.maxFalseNegativeRate)}${bar.minBalancedAccuracy !== null ? ` and its balanced accuracy ≥ ${pct(bar.minBalancedAccuracy)}` : ''}; an item the judge left unjudged counts as an error. Forced-choice answers are parsed by code and need none`,
    claims:
      "a claim is withheld (its numbers still listed, marked) when the judge failed or skipped calibration; when the reference arm's full-data rate is at 0% or 100% within its interval (primary and data efficiency); when a contrast's interval includes 0 (primary) or its Holm-adjusted p ≥ 0.05 (secondary); when unjudged samples could change it; when a fraction it uses trains on fewer than aft.minExamples examples or a cell took fewer than aft.minSteps optimizer steps; for data efficiency also when non-inferiority is not shown or midtraining alone reaches the target",
    seeds:
      clusters.fewestSeeds < 5
        ? `${clusters.fewestSeeds === 1 ? 'one training seed' : `${clusters.fewestSeeds} training seeds`} in the smallest arm × fraction: fewer than 5, so the seed part of every interval rests on very few clusters (a bootstrap over ${clusters.fewestSeeds} seeds can show little of their spread); treat the intervals as optimistic about seed-to-seed variation and run more seeds before publishing`
        : `at least ${clusters.fewestSeeds} training seeds in every arm × fraction`,
  };
}

/**
 * How far the intervals of midtrained arms reach: over one midtraining they cannot show what another corpus
 * draw or midtraining seed would have given; over several (midtrain.seeds) they resample the runs.
 */
function midtrainingMethod(
  arms: ReadonlyArray<{ start: string }>,
  midtrains: ReadonlyArray<{ corpusDraw: number }>,
): string | undefined {
  if (!arms.some(startsFromMidtraining)) return undefined;
  if (!midtrains.length)
    return 'one midtraining run (one corpus draw, midtraining seed 0): the intervals of arms that start from it resample its AFT seeds and the prompts, not what another corpus draw or midtraining seed would give; the MSM effect rests on n = 1 midtraining (set midtrain.seeds to measure that spread)';
  const draws = midtrains.some((m) => m.corpusDraw !== 0) ? 'each on its own corpus draw' : 'all on one corpus draw';
  return `${midtrains.length + 1} independent midtraining runs (midtrain.seeds, ${draws}): for arms that start from a midtraining, each bootstrap replicate redraws whole midtraining runs (each with all its AFT seeds), so their intervals, and every contrast with them, include the spread between midtrainings`;
}
