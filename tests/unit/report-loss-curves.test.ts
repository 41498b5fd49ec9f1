import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { keyOfUri } from '../../src/eval/judgments';
import { downsample, lossPanels, lossRuns, readLossCurves, type LossCurve } from '../../src/report/loss-curves';
import { lossCurveSummary, renderLossCurvesSvg } from '../../src/report/loss-plot';
import { FsArtifactStore } from '../../src/store/fs-store';
import { writeJson } from '../../src/store/json';

const root = mkdtempSync(path.join(os.tmpdir(), 'msm-loss-'));
const store = new FsArtifactStore(pathToFileURL(root).href);
afterAll(() => rmSync(root, { recursive: true, force: true }));
const keyOf = (uri: string) => keyOfUri(store, uri);

/** The points of each drawn line, as [x, y] pairs, by run label. */
function linePoints(svg: string): Map<string, number[][]> {
  const lines = [...svg.matchAll(/class="loss-line" data-run="([^"]+)" d="([^"]+)"/g)];
  return new Map(lines.map((m) => [m[1], m[2].split(' ').map((p) => p.slice(1).split(',').map(Number))]));
}

describe('loss curves in the report', () => {
  it("reads every run's loss_curve.json; missing, unreadable and foreign outputs are null, not errors", async () => {
    await writeJson(store, 'runs/mid/final/loss_curve.json', { step_losses: [4, 3, null, 2] });
    await store.put('runs/broken/final/loss_curve.json', '{not json');
    const runs = lossRuns(store.uri('runs/mid/final'), [
      { arm: 'msm', fraction: 0.25, seed: 1, outputUri: store.uri('runs/old/final') },
      { arm: 'msm', fraction: 1, seed: 0, outputUri: store.uri('runs/broken/final') },
      { arm: 'baseline', fraction: 1, seed: 0, outputUri: 's3://elsewhere/runs/x/final' },
    ]);
    const reads: number[] = [];
    const curves = await readLossCurves(store, runs, keyOf, (n) => reads.push(n));
    expect(curves.map((c) => c.label)).toEqual(['midtrain', 'msm-1of4-s1', 'msm-1of1-s0', 'baseline-1of1-s0']);
    expect(curves[0].losses).toEqual([4, 3, NaN, 2]); // a diverged (null) step is a gap, not a zero
    expect(curves.slice(1).map((c) => c.losses)).toEqual([null, null, null]);
    expect(reads).toEqual([1, 2, 3, 4]);
    expect(lossCurveSummary(curves)).toEqual([
      '- midtrain: 4 steps, loss 4.0000 → 2.0000',
      '- msm-1of4-s1: no loss curve recorded (trained before outputs kept loss_curve.json)',
      '- msm-1of1-s0: no loss curve recorded (trained before outputs kept loss_curve.json)',
      '- baseline-1of1-s0: no loss curve recorded (trained before outputs kept loss_curve.json)',
    ]);
  });

  it('averages long runs into at most 300 points, each at the last step it covers', () => {
    const pts = downsample(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(pts).toHaveLength(250); // buckets of 4 steps
    expect(pts[0]).toEqual({ step: 4, loss: 2.5 });
    expect(pts.at(-1)).toEqual({ step: 1000, loss: 998.5 });
    expect(downsample([5, NaN, 3], 3)).toEqual([
      { step: 1, loss: 5 },
      { step: 3, loss: 3 },
    ]);
  });

  it('draws a midtraining panel and one per AFT arm, losses on a shared scale within a panel', () => {
    const cell = (arm: string, fraction: number, seed: number, losses: number[] | null): LossCurve => ({
      label: `${arm}-${fraction}-${seed}`,
      outputUri: '',
      cell: { arm, fraction, seed },
      losses,
      learningRates: null,
    });
    const curves: LossCurve[] = [
      { label: 'midtrain', outputUri: '', losses: [3, 2, 1], learningRates: null },
      cell('baseline', 1, 0, [2, 1.5, 1, 0.5]),
      cell('baseline', 0.5, 0, [2, 1]),
      cell('msm', 1, 0, null),
    ];
    expect(lossPanels(curves).map((p) => [p.title, p.curves.length])).toEqual([
      ['Midtraining', 1],
      ['AFT: baseline', 2],
      ['AFT: msm', 1],
    ]);
    const svg = renderLossCurvesSvg(curves);
    const pts = linePoints(svg);
    expect([...pts.keys()]).toEqual(['midtrain', 'baseline-1-0', 'baseline-0.5-0']);
    // Within a panel: steps share the x axis (step 2 of 2 sits at half the width of 4 steps) and loss falls downwards.
    const full = pts.get('baseline-1-0')!;
    const half = pts.get('baseline-0.5-0')!;
    expect(half[1][0]).toBeCloseTo(full[1][0], 6);
    expect(full.map((p) => p[1])).toEqual([...full.map((p) => p[1])].sort((a, b) => a - b));
    expect(half[0][1]).toBeCloseTo(full[0][1], 6);
    expect(pts.get('midtrain')!.at(-1)![1]).toBeGreaterThan(pts.get('midtrain')![0][1]);
    // The msm panel has no curve: it says so instead of an empty frame.
    expect(svg).toMatch(/data-title="AFT: msm">[\s\S]*no loss curve recorded for 1\/1 s0/);
    expect(svg).toContain('viewBox="0 0 960 614"'); // 2 columns × 2 rows of panels under the title
  });

  it('says so when there is no training run at all', () => {
    expect(renderLossCurvesSvg([])).toContain('no training runs in this report');
  });
});
