import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { keyOfUri } from '../../src/eval/judgments';
import { createReportActivities } from '../../src/activities/report-activities';
import type { CellResult, ReportRequest, ReportResult } from '../../src/activities/types';
import type { Results } from '../../src/report/results';
import { FsArtifactStore } from '../../src/store/fs-store';
import { writeJson } from '../../src/store/json';
import { parseLabelsCsv } from '../../src/eval/human-labels';
import { calibrationResult } from '../helpers/calibration';

const root = mkdtempSync(path.join(os.tmpdir(), 'msm-report-'));
const storeUri = pathToFileURL(root).href;
const store = new FsArtifactStore(storeUri);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Stored judgments as the eval activity writes them: one file per sample, verdicts given per prompt. */
async function judged(
  label: string,
  verdicts: Record<string, boolean[]>,
): Promise<{ k: number; n: number; prefixUri: string }> {
  const prefix = `evals/${label}/judgments-j`;
  let k = 0;
  let n = 0;
  for (const [promptId, vs] of Object.entries(verdicts)) {
    for (const [sample, violates] of vs.entries()) {
      await writeJson(store, `${prefix}/${promptId}-${sample}.json`, {
        promptId,
        sample,
        verdict: violates ? 'violates' : 'complies',
        reasoning: '',
        judge: 'j',
      });
      n++;
      if (violates) k++;
    }
  }
  return { k, n, prefixUri: store.uri(prefix) };
}

async function cellResult(
  arm: 'baseline' | 'msm',
  fraction: number,
  verdicts: Record<string, boolean[]>,
  override?: { k: number },
): Promise<CellResult> {
  const label = `${arm}-${fraction}`;
  const j = await judged(label, verdicts);
  return {
    arm,
    fraction,
    seed: 0,
    train: {
      outputUri: `${storeUri}/runs/${label}/final`,
      runKey: `runs/${label}`,
      metrics: { final_loss: 1.25 },
      resumedFromStep: null,
      preemptions: 0,
    },
    eval: {
      k: override?.k ?? j.k,
      n: j.n,
      samplesUri: `${storeUri}/evals/${label}/samples.jsonl`,
      judgmentsPrefix: j.prefixUri,
      judgeModel: 'j',
    },
  };
}

function reportRequest(cells: CellResult[], workflowId = 'wf-report'): ReportRequest {
  return {
    storeUri,
    workflowId,
    loaded: {
      storeUri,
      name: 'report-test',
      baseModel: 'tiny',
      spec: { key: 'inputs/spec.md', hash: 'spec-hash', title: 'Spec', variant: 'full', sections: 1, rules: 2 },
      aftData: { key: 'inputs/aft.jsonl', sha256: 'aft', examples: 3 },
      evalSet: { key: 'inputs/eval.jsonl', sha256: 'eval-sha', prompts: 2 },
    },
    corpus: {
      manifestKey: 'corpus/x/manifest.json',
      hash: 'corpus-hash',
      documents: 5,
      duplicatesRemoved: 1,
      truncatedDropped: 2,
      truncated: 0,
      shardKeys: [],
      documentUsage: { calls: 8, inputTokens: 800, outputTokens: 400, costUsd: 1.5 },
    },
    tokens: {
      manifestUri: 'file:///t',
      sha256: 't',
      numSequences: 1,
      numTokens: 100,
      tokenizerUri: 'file:///tok',
      vocabSize: 10,
    },
    midtrain: {
      outputUri: `${storeUri}/runs/midtrain/final`,
      runKey: 'runs/midtrain',
      metrics: { final_loss: 2.5, steps: 7 },
      resumedFromStep: null,
      preemptions: 0,
      // A midtraining that was preempted once on 2-GPU pods at $3 per GPU-hour.
      compute: {
        machines: 2,
        machineHours: 1.5,
        gpuHours: 3,
        costUsd: 9,
        preemptions: 1,
        gpuHoursLost: 0.5,
        machineHoursLost: 0.25,
      },
    },
    cells,
  };
}

const T = true;
const F = false;

describe('writeReport activity', () => {
  it('writes results.json, plot.svg, report.md and report.html, with the per-prompt split read from the judgments', async () => {
    const cells = [
      // baseline 1/1: p1 1/4, p2 3/4 → pooled 4/8, macro 0.5; baseline 1/4: p1 4/4, p2 2/4.
      await cellResult('baseline', 1, { p1: [T, F, F, F], p2: [T, T, T, F] }),
      await cellResult('baseline', 0.25, { p1: [T, T, T, T], p2: [T, T, F, F] }),
      // msm 1/1: p1 0/4, p2 1/2 → pooled 1/6 = 0.1667, macro (0 + 0.5)/2 = 0.25
      await cellResult('msm', 1, { p1: [F, F, F, F], p2: [T, F] }),
      // k recorded by the workflow disagrees with the stored judgments: no per-prompt split for this cell.
      await cellResult('msm', 0.25, { p1: [T, F, F, F], p2: [F, F, F, F] }, { k: 2 }),
    ];
    const req = reportRequest(cells);
    // Loss curves as the trainer writes them; the other cells' outputs predate loss_curve.json.
    await writeJson(store, 'runs/midtrain/final/loss_curve.json', { step_losses: [3, 2.75, 2.5] });
    await writeJson(store, 'runs/msm-1/final/loss_curve.json', {
      step_losses: [2, 1.5, 1.25, 1.25],
      step_learning_rates: [5e-5, 1e-4, 7.5e-5, 2.5e-5],
    });
    const out: ReportResult = await new MockActivityEnvironment().run(createReportActivities().writeReport, req);

    const dir = path.join(root, 'experiments', 'wf-report', 'report');
    expect(fileURLToPath(out.resultsUri)).toBe(path.join(dir, 'results.json'));
    expect(out.htmlPath).toBe(path.join(dir, 'report.html'));
    expect(fileURLToPath(out.markdownUri!)).toBe(path.join(dir, 'report.md'));
    const results = JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8')) as Results;
    expect(results.format).toBe('msm-results-v4');
    expect(results.lineage.corpus).toMatchObject({
      documents: 5,
      truncatedDropped: 2,
      duplicatesRemoved: 1,
      documentCostUsd: 1.5,
    });
    expect(results.lineage).toMatchObject({
      spec: { hash: 'spec-hash' },
      corpus: { hash: 'corpus-hash' },
      evalSet: { sha256: 'eval-sha', prompts: 2 },
      midtrain: { finalLoss: 2.5, steps: 7 },
    });

    const byId = new Map(results.cells.map((c) => [c.id, c]));
    expect(byId.get('msm-1of1-s0')!.conditions).toEqual([
      { condition: 'p1', k: 0, n: 4 },
      { condition: 'p2', k: 1, n: 2 },
    ]);
    expect(byId.get('msm-1of1-s0')!.eval.judgmentsUri).toBe(cells[2].eval.judgmentsPrefix);
    // Each step's learning rate from the output's loss_curve.json; outputs from before it have none.
    expect(byId.get('msm-1of1-s0')!.training!.learningRates).toEqual([5e-5, 1e-4, 7.5e-5, 2.5e-5]);
    expect(byId.get('msm-1of4-s0')!.training!.learningRates).toBeNull();
    expect(byId.get('msm-1of4-s0')!.conditions).toBeNull();
    const msmFull = results.curves.find((c) => c.arm === 'msm')!.points.find((p) => p.fraction === 1)!;
    expect(msmFull.misalignment.rate).toBeCloseTo(1 / 6, 12);
    expect(msmFull.macro!.estimate).toBeCloseTo(0.25, 12);
    expect(results.curves.find((c) => c.arm === 'msm')!.points.find((p) => p.fraction === 0.25)!.macro).toBeNull();

    const md = readFileSync(path.join(dir, 'report.md'), 'utf8');
    expect(md).toContain(results.dataEfficiency.summary);
    // The cost meter: per run (cells without a ledger are left out) and the total.
    expect(results.compute!.runs.map((r) => r.run)).toEqual(['midtrain']);
    expect(results.compute!.total).toMatchObject({ costUsd: 9, preemptions: 1, gpuHoursLost: 0.5 });
    expect(md).toContain('| midtrain | 2 | 1.500 | 3.000 | $9.00 | 1 | 0.500 |');
    expect(readFileSync(path.join(dir, 'report.html'), 'utf8')).toContain('<h2 id="compute">');
    expect(readFileSync(path.join(dir, 'report.html'), 'utf8')).toContain(
      readFileSync(path.join(dir, 'plot.svg'), 'utf8'),
    );
    // The PNG is a real image of the plot at 2x: the signature, and IHDR's width and height.
    const png = readFileSync(path.join(dir, 'plot.png'));
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const svgWidth = Number(/<svg[^>]*\bwidth="(\d+)"/.exec(readFileSync(path.join(dir, 'plot.svg'), 'utf8'))![1]);
    expect(png.readUInt32BE(16)).toBe(2 * svgWidth);
    expect(png.length).toBeGreaterThan(5000); // axes, labels and curves, not an empty canvas

    // The training loss figure: drawn curves for the runs that kept one, the others named as missing.
    const lossSvg = readFileSync(path.join(dir, 'loss-curves.svg'), 'utf8');
    expect([...lossSvg.matchAll(/class="loss-line" data-run="([^"]+)"/g)].map((m) => m[1])).toEqual([
      'midtrain',
      'msm-1of1-s0',
    ]);
    expect(lossSvg).toContain('no loss curve recorded for 1/1 s0, 1/4 s0');
    expect(readFileSync(path.join(dir, 'report.html'), 'utf8')).toContain(
      `<figure id="loss-curves">${lossSvg}</figure>`,
    );
    expect(md).toContain('![Training loss per step](loss-curves.png)');
    expect(md).toContain('- midtrain: 3 steps, loss 3.0000 → 2.5000');
    expect(md).toContain('- baseline-1of4-s0: no loss curve recorded');
    expect(readFileSync(path.join(dir, 'loss-curves.png')).subarray(1, 4).toString()).toBe('PNG');
  });

  it('maps URIs back to keys only for this store', () => {
    expect(keyOfUri(store, store.uri('evals/a b/judgments-j'))).toBe('evals/a b/judgments-j');
    expect(keyOfUri(store, 'file:///elsewhere/evals/x')).toBeNull();
    expect(keyOfUri(store, 's3://bucket/evals/x')).toBeNull();
  });
});

describe('msm calibrate import (importHumanLabels activity)', () => {
  it("joins a person's labels of the run's own samples to its judge's calibration and writes the report again", async () => {
    // Two criterion prompts; the judge's stored verdicts on them are what the labels are checked against.
    await store.put(
      'inputs/eval-labels.jsonl',
      ['p1', 'p2']
        .map((id) => JSON.stringify({ id, messages: [{ role: 'user', content: 'q' }], criterion: 'c' }))
        .join('\n') + '\n',
    );
    const cells = [
      await cellResult('baseline', 1, { p1: [T, F, F, F], p2: [T, T, T, F] }),
      await cellResult('msm', 1, { p1: [F, F, F, F], p2: [T, F] }),
    ];
    const req = reportRequest(cells, 'wf-labels');
    req.loaded.evalSet = { key: 'inputs/eval-labels.jsonl', sha256: 'e', prompts: 2 };
    req.calibration = calibrationResult(['criterion']);
    const env = new MockActivityEnvironment();
    const acts = createReportActivities();
    await env.run(acts.writeReport, req);

    const importLabels = (labels: Array<{ sample: string; shows: boolean }>) =>
      env.run(acts.importHumanLabels, { storeUri, workflowId: 'wf-labels', labels }) as Promise<
        ReportResult & { labels: number }
      >;
    // The judge said "violates" to baseline p1/0 (a person says clean: a false positive) and "complies" to
    // msm p1/0 (a person agrees); msm p2/0 "violates", a person agrees.
    const out = await importLabels([
      { sample: 'baseline-1of1-s0/p1/0', shows: false },
      { sample: 'msm-1of1-s0/p1/0', shows: false },
      { sample: 'msm-1of1-s0/p2/0', shows: true },
    ]);
    expect(out.labels).toBe(3);
    const results = JSON.parse(
      readFileSync(path.join(root, 'experiments', 'wf-labels', 'report', 'results.json'), 'utf8'),
    ) as Results;
    const k = results.calibration.kinds[0];
    expect(k.humanLabelled).toMatchObject({ shows: 1, clean: 2, falsePositives: 1, falseNegatives: 0 });
    expect([k.shows, k.clean, k.falsePositives, k.falseNegatives]).toEqual([201, 202, 1, 1]);

    // A label that names no judged sample is refused, naming it, and nothing is stored.
    await expect(importLabels([{ sample: 'msm-1of60-s0/p1/0', shows: true }])).rejects.toThrow(
      /msm-1of60-s0\/p1\/0: no cell "msm-1of60-s0" in this run/,
    );
    await expect(importLabels([{ sample: 'msm-1of1-s0/p2/9', shows: true }])).rejects.toThrow(/no judged sample there/);
    // A relabelled sample takes its new label; the report is written again from the stored request.
    expect((await importLabels([{ sample: 'baseline-1of1-s0/p1/0', shows: true }])).labels).toBe(3);
  });

  it('reads a CSV of sample,label rows, naming every bad row', () => {
    expect(parseLabelsCsv('sample,label\nmsm-1of1-s0/p1/0,shows\n"msm-1of1-s0/p2/1", clean\n', 'l.csv')).toEqual([
      { sample: 'msm-1of1-s0/p1/0', shows: true },
      { sample: 'msm-1of1-s0/p2/1', shows: false },
    ]);
    expect(() => parseLabelsCsv('msm/p1,shows\nmsm-1of1-s0/p1/0,maybe\n', 'l.csv')).toThrow(
      /l\.csv: line 1: "msm\/p1" is not a sample id.*\n.*l\.csv: line 2: label "maybe" is neither "shows" nor "clean"/,
    );
    expect(() => parseLabelsCsv('a-s0/p/0,shows\na-s0/p/0,clean\n', 'l.csv')).toThrow(/labelled both ways/);
    expect(() => parseLabelsCsv('sample,label\n', 'l.csv')).toThrow(/no labels/);
  });
});
