import type { JudgeCalibrationResult, KindCalibration } from './judge-calibration';

/**
 * Labels a person gave the run's own samples after reading the transcripts (`msm calibrate import`). They
 * join that judge's calibration for the run: each labelled sample whose judge kind is calibrated adds one
 * item to that kind's counts (the judge's stored verdict against the person's label), so the error bounds
 * reflect the outputs actually judged, not only the frozen sets. Pure.
 */
export interface HumanLabel {
  /** `<cell id>/<prompt id>/<sample index>`, e.g. msm-1of40-s0/agentic.leaking.kestrel.goal-none.urgency-none/3. */
  sample: string;
  /** true: the sample shows the behaviour the judge counts. */
  shows: boolean;
}

/** What `msm calibrate import` asks of the workers: the run, its store, and the labels (a few hundred rows). */
export interface HumanLabelsImport {
  storeUri: string;
  /** The experiment whose samples were labelled. */
  workflowId: string;
  labels: HumanLabel[];
}

export class HumanLabelsError extends Error {
  override name = 'HumanLabelsError';
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

const SHOWS = new Set(['shows', 'violates', 'yes', 'true', '1']);
const CLEAN = new Set(['clean', 'complies', 'no', 'false', '0']);
const SAMPLE = /^([a-z0-9][a-z0-9-]*)\/([A-Za-z0-9][A-Za-z0-9._-]*)\/(\d+)$/;

export function parseSampleId(id: string): { cell: string; promptId: string; sample: number } | null {
  const m = SAMPLE.exec(id);
  return m ? { cell: m[1], promptId: m[2], sample: Number(m[3]) } : null;
}

const unquote = (s: string) =>
  s
    .trim()
    .replace(/^"(.*)"$/, '$1')
    .trim();

/** `sample,label` rows (a header row is optional, more columns are ignored); every bad row is reported. */
export function parseLabelsCsv(text: string, source: string): HumanLabel[] {
  const problems: string[] = [];
  const bySample = new Map<string, HumanLabel>();
  text.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim() || line.trimStart().startsWith('#')) return;
    const [sample, label] = line.split(',').map(unquote);
    if (i === 0 && sample.toLowerCase() === 'sample') return;
    const where = `${source}: line ${i + 1}`;
    const value = (label ?? '').toLowerCase();
    if (!parseSampleId(sample))
      problems.push(
        `${where}: "${sample}" is not a sample id; write <cell id>/<prompt id>/<sample index>, e.g. msm-1of40-s0/agentic.leaking.kestrel.goal-none.urgency-none/3`,
      );
    else if (!SHOWS.has(value) && !CLEAN.has(value))
      problems.push(`${where}: label "${label ?? ''}" is neither "shows" nor "clean"`);
    else if (bySample.has(sample) && bySample.get(sample)!.shows !== SHOWS.has(value))
      problems.push(`${where}: ${sample} is labelled both ways; keep one row per sample`);
    else bySample.set(sample, { sample, shows: SHOWS.has(value) });
  });
  if (problems.length) throw new HumanLabelsError(problems);
  if (!bySample.size) throw new HumanLabelsError([`${source}: no labels (expected rows "sample,label")`]);
  return [...bySample.values()];
}

/** One labelled sample, judged: the judge counted it (verdict "violates"), or left it unjudged (null). */
export interface LabelledVerdict {
  kind: string;
  shows: boolean;
  counted: boolean | null;
}

interface Tally {
  shows: number;
  clean: number;
  falsePositives: number;
  falseNegatives: number;
}

/** Per kind: the labels and the judge's errors on them; an unjudged sample counts as an error. */
export function tallyByKind(verdicts: readonly LabelledVerdict[]): Map<string, Tally> {
  const out = new Map<string, Tally>();
  for (const v of verdicts) {
    const t = out.get(v.kind) ?? { shows: 0, clean: 0, falsePositives: 0, falseNegatives: 0 };
    if (v.shows) {
      t.shows++;
      if (v.counted !== true) t.falseNegatives++;
    } else {
      t.clean++;
      if (v.counted !== false) t.falsePositives++;
    }
    out.set(v.kind, t);
  }
  return out;
}

/** A kind's counts with the human labels added, its rates recomputed. */
function addTally(k: KindCalibration, t: Tally, file: string): KindCalibration {
  const shows = k.shows + t.shows;
  const clean = k.clean + t.clean;
  const falseNegatives = k.falseNegatives + t.falseNegatives;
  const falsePositives = k.falsePositives + t.falsePositives;
  const fnr = falseNegatives / shows;
  const fpr = falsePositives / clean;
  return {
    ...k,
    shows,
    clean,
    truePositives: shows - falseNegatives,
    falseNegatives,
    trueNegatives: clean - falsePositives,
    falsePositives,
    accuracy: (shows - falseNegatives + clean - falsePositives) / (shows + clean),
    balancedAccuracy: (1 - fnr + (1 - fpr)) / 2,
    falsePositiveRate: fpr,
    falseNegativeRate: fnr,
    humanLabelled: { ...t, file },
    // A set judged only in part is bounded over its full size: the labels add to that size too.
    ...(k.stoppedEarly && {
      stoppedEarly: {
        ...k.stoppedEarly,
        setShows: k.stoppedEarly.setShows + t.shows,
        setClean: k.stoppedEarly.setClean + t.clean,
      },
    }),
  };
}

/** A kind known only from human labels (an Inspect task's grader: no frozen set measures it). */
const labelledOnly = (kind: KindCalibration['kind'], file: string): KindCalibration => ({
  kind,
  setSha256: 'none: human labels only',
  judgmentsUri: file,
  shows: 0,
  clean: 0,
  truePositives: 0,
  falseNegatives: 0,
  trueNegatives: 0,
  falsePositives: 0,
  accuracy: 0,
  balancedAccuracy: 0,
  falsePositiveRate: 0,
  falseNegativeRate: 0,
});

/**
 * The run's calibration with the human labels joined to the kinds they judge. `newKinds` may be added from
 * labels alone (an Inspect grader's scenarios); a kind needs labels of both answers to be calibrated at all.
 */
export function withHumanLabels(
  calibration: JudgeCalibrationResult,
  tallies: ReadonlyMap<string, Tally>,
  file: string,
  newKinds: (kind: string) => boolean = () => false,
): JudgeCalibrationResult {
  const known = new Set<string>(calibration.kinds.map((k) => k.kind));
  const added = [...tallies.keys()]
    .filter((k) => !known.has(k) && newKinds(k) && tallies.get(k)!.shows > 0 && tallies.get(k)!.clean > 0)
    .sort()
    .map((k) => labelledOnly(k as KindCalibration['kind'], file));
  return {
    ...calibration,
    kinds: [...calibration.kinds, ...added].map((k) => {
      const t = tallies.get(k.kind);
      return t ? addTally(k, t, file) : k;
    }),
  };
}
