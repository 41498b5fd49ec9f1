import type { ArtifactStore } from '../store/artifact-store';
import { readJson, writeJson } from '../store/json';
import type { Judgment } from './judge-sample';
import { parseSampleId, type HumanLabel, type LabelledVerdict } from './human-labels';

/** Where a run's human labels live: one file per run, merged by sample on every import. */
export const humanLabelsKey = (workflowId: string) => `experiments/${workflowId}/calibration/human-labels.json`;

export async function readHumanLabels(store: ArtifactStore, workflowId: string): Promise<HumanLabel[]> {
  const key = humanLabelsKey(workflowId);
  return (await store.exists(key)) ? readJson<HumanLabel[]>(store, key) : [];
}

/** Add labels to the run's file; a sample labelled again takes its new label. */
export async function saveHumanLabels(
  store: ArtifactStore,
  workflowId: string,
  labels: HumanLabel[],
): Promise<HumanLabel[]> {
  const merged = new Map((await readHumanLabels(store, workflowId)).map((l) => [l.sample, l]));
  for (const l of labels) merged.set(l.sample, l);
  const all = [...merged.values()].sort((a, b) => a.sample.localeCompare(b.sample));
  await writeJson(store, humanLabelsKey(workflowId), all);
  return all;
}

/**
 * Each label beside the judge's stored verdict on its sample. `judgmentsOf` maps a cell id to its
 * judgments' key prefix in this store (null: no such cell); `kindOf` a prompt id to its judge kind
 * (undefined: parsed by code, or not in the eval set). Every label that cannot be matched is a problem.
 */
export async function judgeLabelled(
  store: ArtifactStore,
  labels: readonly HumanLabel[],
  judgmentsOf: (cell: string) => string | null,
  kindOf: (promptId: string) => string | undefined,
): Promise<{ verdicts: LabelledVerdict[]; problems: string[] }> {
  const verdicts: LabelledVerdict[] = [];
  const problems: string[] = [];
  for (const l of labels) {
    const id = parseSampleId(l.sample)!;
    const prefix = judgmentsOf(id.cell);
    const kind = kindOf(id.promptId);
    const key = prefix && `${prefix}/${id.promptId}-${id.sample}.json`;
    if (!prefix)
      problems.push(`${l.sample}: no cell "${id.cell}" in this run (cell ids as in the report, e.g. msm-1of40-s0)`);
    else if (!kind)
      problems.push(`${l.sample}: prompt ${id.promptId} is not judged by an LLM judge in this run's eval set`);
    else if (!(await store.exists(key!))) problems.push(`${l.sample}: the run has no judged sample there`);
    else {
      const j = await readJson<Judgment>(store, key!);
      verdicts.push({ kind, shows: l.shows, counted: j.verdict === 'unjudged' ? null : j.verdict === 'violates' });
    }
  }
  return { verdicts, problems };
}
