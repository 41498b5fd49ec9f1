import { fractionLabel } from '../config/fractions';
import { DEFAULT_BOOTSTRAP } from '../eval/bootstrap';
import { INSPECT_CALIBRATION_TASK } from '../eval/inspect/conditions';
import { controlId, controlPoints, reportArms, type ControlPoint } from './arms';
import { placeboPairs } from '../config/arms';
import {
  calibrationSection,
  DEFAULT_CALIBRATION_BAR,
  DEFAULT_MIN_EXAMPLES,
  DEFAULT_MIN_STEPS,
  examplesAt,
  withheldClaim,
  type ClaimFacts,
} from './claims';
import { capabilitySection } from './capabilities';
import { computeSection } from './compute';
import { judgeSpendSection } from './judge-spend';
import { buildContrasts, gateContrasts, resolvePrimary } from './contrasts';
import { efficiencyOf } from './efficiency';
import { methodsOf } from './methods';
import { CellGrid, clusterDataOf, curvePoint, judgeErrorsOf, RateStatsOf, resultCells } from './result-cells';
import {
  controlGroup,
  type Contrast,
  type CurvePoint,
  type ReportInput,
  type ResultCell,
  type Results,
} from './results-types';
import { describeCalibration, describeContrast, describeDataEfficiency, statedOrWithheld } from './wording';

export * from './results-types';

const TRACE = [
  'spec.hash → corpus.hash (documents generated from the spec) → midtrain.checkpoint (msm arm only)',
  'cell.startsFrom → AFT on the given fraction and seed (cell.training: examples, tokens, steps, learning rates) → cell.modelUri',
  'cell.modelUri → cell.eval.samplesUri (generations) → cell.eval.judgmentsUri (one verdict per sample, by cell.eval.judgeModel) → cell.eval.k / cell.eval.n (+ cell.unjudged)',
  'curves, differences and dataEfficiency list the cellIds they were computed from',
];

/** Why an Inspect task's grader has no calibration (shown only when none was run). */
function inspectUncalibrated(task: string): string {
  return task === INSPECT_CALIBRATION_TASK
    ? `the Inspect task ${task} grades with its own classifier prompts, and this report was written before msm calibrated its grader on the benchmark's sets: run the report again`
    : `the Inspect task ${task} grades with its own classifier prompts, and msm has calibration sets only for those of ${INSPECT_CALIBRATION_TASK}`;
}

/** results.json from the workflow's cells, controls, calibration and analysis plan. Pure. */
export function buildResults(input: ReportInput): Results {
  const settings = input.bootstrap ?? DEFAULT_BOOTSTRAP;
  const e = input.experiment;
  const present = [...new Set([...input.cells.map((c) => c.arm), ...(input.controls ?? []).map((c) => c.arm)])];
  const arms = reportArms(input.arms, present);
  // midtrain.seeds: a cell or control of seed m > 0 starts from that seed's midtraining.
  const startsFrom = (a: { start: string; model?: string }, midtrainSeed = 0) => {
    if (a.start === 'external') return `external model ${a.model ?? '(not recorded)'}`;
    const other = e.midtrains?.find((m) => m.seed === midtrainSeed);
    const msm = midtrainSeed ? other?.midtrain : e.midtrain;
    const placebo = midtrainSeed ? other?.placebo : e.placebo;
    return a.start === 'msm'
      ? (msm?.checkpoint ?? 'midtraining checkpoint (not recorded)')
      : a.start === 'placebo'
        ? (placebo?.midtrain.checkpoint ?? 'placebo midtraining checkpoint (not recorded)')
        : `base model ${e.baseModel}`;
  };
  const armStart = (name: string, midtrainSeed?: number) =>
    startsFrom(arms.find((a) => a.name === name) ?? { start: 'base' }, midtrainSeed);
  const missing = e.evalSettings?.inspectTask ? inspectUncalibrated(e.evalSettings.inspectTask) : undefined;
  const judging = judgeSpendSection(input.judging ?? [], input.calibration);
  const calibration = calibrationSection(
    input.calibration,
    { ...DEFAULT_CALIBRATION_BAR, ...input.calibrationBar },
    missing,
  );
  const stats = new RateStatsOf(clusterDataOf(input), judgeErrorsOf(calibration), settings);
  const cells = resultCells(input, armStart, stats);
  const grid = new CellGrid(cells);
  const curves = curvesOf(input, arms, grid, stats);
  const controls = controlPoints(input.controls ?? [], arms, startsFrom, (c) =>
    stats.of(controlGroup(controlId(c)), c.eval.k, c.eval.n),
  );
  const pointOf = (arm: string, f: number) => curves.find((c) => c.arm === arm)?.points.find((p) => p.fraction === f);

  const primary = resolvePrimary(input.analysis, grid);
  const facts = claimFacts(input, calibration, cells, primary.versus, pointOf);
  const differences = buildContrasts(
    curves.map((c) => c.arm),
    primary,
    grid,
    stats,
    placeboPairs(arms),
  );
  gateContrasts(differences, facts, pointOf);
  const margin = (input.analysis?.efficiencyMargin ?? 2) / 100;
  const eff = efficiencyOf(grid, controls, margin, stats, facts, pointOf);
  const analysis: Results['analysis'] = {
    primary,
    efficiencyMargin: margin,
    clusters: {
      prompts: stats.data.prompts.length,
      fewestSeeds: Math.min(...curves.flatMap((c) => c.points.map((p) => p.seeds)), Infinity),
      splitByPrompt: !stats.data.singleCluster,
      ...(e.midtrains?.length && { midtrainings: 1 + e.midtrains.length }),
    },
  };
  if (!Number.isFinite(analysis.clusters.fewestSeeds)) analysis.clusters.fewestSeeds = 0;
  const headline = headlineOf(calibration, facts, differences, eff);
  return {
    format: 'msm-results-v4',
    metric: input.metric ?? HEADLINE_METRIC_DEFAULT,
    generatedAt: input.generatedAt,
    experiment: { name: e.name, workflowId: e.workflowId, ...(e.aftSubsets && { aftSubsets: e.aftSubsets }) },
    lineage: lineageOf(e, facts, cells),
    analysis,
    methods: methodsOf(settings, analysis, calibration, arms, e.midtrains),
    calibration,
    headline,
    arms,
    cells,
    controls,
    curves,
    differences,
    dataEfficiency: {
      ...eff.efficiency,
      margin,
      amounts: eff.amounts,
      cellIds: cells.filter((c) => c.arm === 'msm' || c.arm === 'baseline').map((c) => c.id),
      summary: headline.sentences[headline.sentences.length - 1],
      ...(eff.withheld && { withheld: eff.withheld }),
    },
    ...(input.compute?.length ? { compute: computeSection(input.compute) } : {}),
    ...(judging && { judging }),
    ...(input.capabilities?.length && {
      capabilities: capabilitySection(
        input.capabilities,
        arms.map((a) => a.name),
        (id) => cells.find((c) => c.id === id)?.misalignment ?? controls.find((c) => c.id === id)?.misalignment ?? null,
      ),
    }),
  };
}

const HEADLINE_METRIC_DEFAULT =
  "share of samples the judge found to show the undesired behaviour (judge verdict 'violates')";

/** Curves in the order the arms are listed (baseline, msm for experiments from before arms were data). */
function curvesOf(input: ReportInput, arms: Results['arms'], grid: CellGrid, stats: RateStatsOf): Results['curves'] {
  const valuesOf = new Map(input.cells.map((c) => [`${c.arm}-${c.fraction}-${c.seed}`, c.values]));
  const byId = new Map(grid.cells.map((c) => [c.id, valuesOf.get(`${c.arm}-${c.fraction}-${c.seed}`)]));
  return arms
    .map((a) => a.name)
    .filter((arm) => grid.cells.some((c) => c.arm === arm))
    .map((arm) => ({
      arm,
      points: grid.fractionsOf(arm).map((f): CurvePoint => curvePoint(grid.group(arm, f), f, byId, stats)),
    }));
}

function claimFacts(
  input: ReportInput,
  calibration: Results['calibration'],
  cells: ResultCell[],
  reference: string,
  pointOf: (arm: string, f: number) => CurvePoint | undefined,
): ClaimFacts {
  const fractions = [...new Set(cells.filter((c) => c.arm === reference).map((c) => c.fraction))].sort((a, b) => b - a);
  const full = fractions.length ? pointOf(reference, fractions[0]) : undefined;
  return {
    calibration,
    referenceFull: full ? { arm: reference, fraction: full.fraction, rate: full.misalignment } : null,
    aft: {
      examples: input.aft?.examples ?? null,
      minExamples: input.aft?.minExamples ?? DEFAULT_MIN_EXAMPLES,
      minSteps: input.aft?.minSteps ?? DEFAULT_MIN_STEPS,
    },
    cells: cells.map((c) => ({
      id: c.id,
      arm: c.arm,
      fraction: c.fraction,
      steps: c.training?.steps ?? null,
      zeroLrSteps: c.training?.zeroLrSteps ?? null,
    })),
    maxTruncationGap: (input.maxTruncationGap ?? 5) / 100,
  };
}

/** The answer: calibration, the primary outcome, the data-efficiency factor (last: it is the summary). */
function headlineOf(
  calibration: Results['calibration'],
  facts: ClaimFacts,
  differences: Contrast[],
  eff: ReturnType<typeof efficiencyOf>,
): Results['headline'] {
  const primary = differences.find((d) => d.role === 'primary') ?? null;
  const ratesWithheld = withheldClaim({ kind: 'rates' }, facts);
  const primarySentence = primary
    ? statedOrWithheld('The primary outcome', describeContrast(primary), primary.withheld)
    : null;
  return {
    sentences: [
      describeCalibration(calibration),
      ...(primarySentence ? [primarySentence] : []),
      statedOrWithheld('Data-efficiency factor', describeDataEfficiency(eff.efficiency, eff.amounts), eff.withheld),
    ],
    claims: {
      rates: ratesWithheld ? { withheld: ratesWithheld } : {},
      primary: primary
        ? {
            arm: primary.arm,
            versus: primary.versus,
            fraction: primary.fraction,
            ...(primary.withheld && { withheld: primary.withheld }),
          }
        : null,
      dataEfficiency: eff.withheld ? { withheld: eff.withheld } : {},
    },
  };
}

function lineageOf(e: ReportInput['experiment'], facts: ClaimFacts, cells: ResultCell[]): Results['lineage'] {
  const aft = facts.aft;
  const fractions = [...new Set(cells.map((c) => c.fraction))].sort((a, b) => b - a);
  return {
    spec: {
      title: e.specTitle,
      variant: e.specVariant,
      hash: e.specHash,
      ...(e.variantTokens?.[e.specVariant] !== undefined && { tokens: e.variantTokens[e.specVariant] }),
      ...(e.variantTokens && { variantTokens: e.variantTokens }),
    },
    baseModel: e.baseModel,
    ...(e.identity && { identity: e.identity }),
    corpus: e.corpus,
    midtrain: e.midtrain
      ? {
          checkpoint: e.midtrain.checkpoint,
          finalLoss:
            e.midtrain.finalLoss !== null && Number.isFinite(e.midtrain.finalLoss) ? e.midtrain.finalLoss : null,
          steps: e.midtrain.steps,
        }
      : null,
    ...(e.placebo && { placebo: e.placebo }),
    ...(e.midtrains?.length && { midtrains: e.midtrains }),
    evalSet: e.evalSet ?? null,
    evalSettings: e.evalSettings ?? null,
    aft:
      aft.examples === null
        ? null
        : {
            examples: aft.examples,
            minExamples: aft.minExamples,
            minSteps: aft.minSteps,
            fractions: fractions.map((fraction) => ({
              fraction,
              fractionLabel: fractionLabel(fraction),
              examples: examplesAt(fraction, aft.examples!),
            })),
          },
    aftData: e.aftData ?? null,
    ...(e.aftSpec && { aftSpec: e.aftSpec }),
    ...(e.tokenizer && { tokenizer: e.tokenizer }),
    ...(e.contamination && { contamination: e.contamination }),
    judgeModels: [...new Set(cells.map((c) => c.eval.judgeModel))].sort(),
    trace: TRACE,
  };
}

export type { ControlPoint };
