import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readExperimentFile } from '../../src/experiment/load-experiment-file';
import type { Results } from '../../src/report/results';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import { msmExperiment } from '../../src/workflows';
import { MANIFEST_FILE } from '../../scripts/make-cheese-aft';
import { useScriptedTemporal } from '../helpers/scripted-temporal';

/**
 * experiments/cheese-values.yaml at demo scale (its model, data, eval set and arms; fewer steps, one
 * fraction), LLM stages on the scripted server: the values suite end to end, forced choices parsed from the
 * real trainer's answers and open questions judged, reported as the share revealing each value. The run
 * also carries the paper's controls on the real trainer: a placebo arm (same tokens, unrelated spec) and
 * two midtraining seeds (midtrain.seeds: each its own corpus draw), whose cells must reach the report.
 * Its pair, cheese-affordability.yaml, differs only in its spec (tests/unit/cheese-aft-data.test.ts checks
 * they share the AFT data); the contrast `msm compare` states between two such runs is
 * tests/unit/value-contrast.test.ts, and the CLI writing it tests/unit/compare.test.ts. (Until 2026-12 this
 * ran both files, 157 s: the second run proved nothing the first and those tests do not.)
 */
describe('the cheese values experiment end to end on a real Temporal server', () => {
  const t = useScriptedTemporal();

  it('reports per arm the share of answers revealing each value, unparseable choices apart', async () => {
    const store = mkdtempSync(path.join(os.tmpdir(), 'msm-store-cheese-'));
    const provider = { kind: 'openai', baseUrl: t.llm.baseUrl, model: 'scripted-writer', timeoutMs: 10_000 };
    const { raw } = readExperimentFile(path.join(PROJECT_ROOT, 'experiments', 'cheese-values.yaml'));
    const input = {
      ...raw,
      store,
      generation: { ...raw.generation, provider },
      midtrain: { ...raw.midtrain, maxSteps: 3, seeds: [0, 1] },
      aft: {
        ...raw.aft,
        arms: [...raw.aft!.arms!, 'placebo'],
        fractions: ['1/1'],
        hyper: { ...raw.aft!.hyper, epochs: 1, maxSteps: 6 },
      },
      eval: { ...raw.eval, samplesPerPrompt: 1, maxNewTokens: 8, judge: { ...provider, model: 'scripted-judge' } },
      compute: { backend: 'local', device: 'cpu' },
    } as typeof raw;
    const handle = await t.client.workflow.start(msmExperiment, {
      taskQueue: 'msm',
      workflowId: `cheese-e2e-${raw.name}`,
      args: [input],
    });
    const resultsUri = (await handle.result()).report.resultsUri;
    const r = JSON.parse(readFileSync(fileURLToPath(resultsUri), 'utf8')) as Results;
    const manifest = JSON.parse(readFileSync(path.join(PROJECT_ROOT, MANIFEST_FILE), 'utf8')) as { sha256: string };
    expect(r.lineage.aftData!.sha256).toBe(manifest.sha256);
    // Per arm: the share choosing the pro-America option, the pro-affordability option and neither.
    const msm = r.curves.find((c) => c.arm === 'msm')!.points[0].values!;
    expect(msm.map((v) => v.value)).toEqual(['affordability', 'america', 'neither']);
    expect(msm.reduce((s, v) => s + v.k, 0)).toBe(msm[0].n);
    // Midtrained arms once per midtraining seed, each from its own run; base arms once.
    expect(r.cells.map((c) => c.id)).toEqual([
      'baseline-1of1-s0',
      'msm-1of1-s0',
      'msm-1of1-s0-m1',
      'placebo-1of1-s0',
      'placebo-1of1-s0-m1',
    ]);
    expect(r.controls.map((c) => c.id)).toEqual(['msm-only-s0', 'msm-only-s0-m1']);
    const second = r.lineage.midtrains![0];
    expect(second).toMatchObject({ seed: 1, corpusDraw: 1 });
    expect(second.corpus.hash).not.toBe(r.lineage.corpus.hash);
    expect(r.cells.find((c) => c.id === 'msm-1of1-s0-m1')!.startsFrom).toBe(second.midtrain!.checkpoint);
    // The placebo matched to each draw's MSM corpus, and contrasted with msm.
    const first = r.lineage.placebo!.match;
    expect([first.targetTokens, first.placeboTokens + first.short]).toEqual([
      r.lineage.corpus.tokens,
      first.targetTokens,
    ]);
    const other = second.placebo!.match;
    expect([other.targetTokens, other.placeboTokens + other.short]).toEqual([second.corpus.tokens, other.targetTokens]);
    expect(r.differences.some((d) => d.arm === 'msm' && d.versus === 'placebo')).toBe(true);
    expect(r.analysis.clusters.midtrainings).toBe(2);
    expect(r.metric).toContain('"america"');
    for (const cell of r.cells) {
      expect(cell.eval.n).toBe(30); // 20 forced-choice + 10 open questions, one sample each
      expect(cell.unparsed).not.toBeNull(); // unparseable choices are counted apart (and as misses)
    }
    const md = readFileSync(path.join(path.dirname(fileURLToPath(resultsUri)), 'report.md'), 'utf8');
    expect(md).toContain('## Values revealed');
    expect(md).toContain('Midtraining: 2 independent midtraining runs');
    expect(md).toContain('midtraining seed 1');
  }, 600_000);
});
