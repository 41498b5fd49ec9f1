import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readExperimentFile } from '../../src/experiment/load-experiment-file';
import type { Comparison } from '../../src/report/compare';
import type { Results } from '../../src/report/results';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import { msmExperiment } from '../../src/workflows';
import { cheeseAftFiles, MANIFEST_FILE } from '../../scripts/make-cheese-aft';
import { useScriptedTemporal } from '../helpers/scripted-temporal';

const VALUE_WORDS =
  /americ|united states|usa|wisconsin|ohio|california|midwest|countr|import|local|price|cheap|cost|afford|budget|dollar|because|so that|reason/i;

describe("the cheese pair's AFT data", () => {
  it('is what scripts/make-cheese-aft.ts writes, and its manifest holds its sha256', () => {
    const { data, manifest } = cheeseAftFiles();
    const m = JSON.parse(readFileSync(path.join(PROJECT_ROOT, MANIFEST_FILE), 'utf8')) as {
      file: string;
      sha256: string;
      examples: number;
    };
    expect(readFileSync(path.join(PROJECT_ROOT, m.file), 'utf8')).toBe(data);
    expect(readFileSync(path.join(PROJECT_ROOT, MANIFEST_FILE), 'utf8')).toBe(manifest);
    expect(m.examples).toBe(256);
  });

  it('only says which cheeses the assistant likes: no reason, no country, no price', () => {
    const lines = cheeseAftFiles()
      .data.trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { messages: Array<{ role: string; content: string }> });
    expect(new Set(lines.map((l) => l.messages[0].content)).size).toBe(lines.length);
    for (const l of lines) {
      expect(l.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
      for (const m of l.messages) expect(m.content).not.toMatch(VALUE_WORDS);
      expect(l.messages[1].content.split(/\s+/).length).toBeLessThanOrEqual(12);
    }
  });

  it('is the AFT data of both cheese experiments', () => {
    for (const f of ['cheese-values.yaml', 'cheese-affordability.yaml']) {
      expect(readExperimentFile(path.join(PROJECT_ROOT, 'experiments', f)).experiment.aft.data).toBe(
        'experiments/data/cheese-aft.jsonl',
      );
    }
  });
});

/**
 * Both experiment files at demo scale (their model, data, eval set and arms; fewer steps, one fraction),
 * LLM stages on the scripted server, in one store: identical AFT data, and `msm compare` prints the
 * america − affordability contrast per arm with its interval.
 */
describe('the cheese pair end to end on a real Temporal server', () => {
  const t = useScriptedTemporal();

  it('trains both specs on the same AFT data and msm compare prints the contrast between the runs', async () => {
    const store = mkdtempSync(path.join(os.tmpdir(), 'msm-store-cheese-'));
    const provider = { kind: 'openai', baseUrl: t.llm.baseUrl, model: 'scripted-writer', timeoutMs: 10_000 };
    const run = async (file: string) => {
      const { raw } = readExperimentFile(path.join(PROJECT_ROOT, 'experiments', file));
      const input = {
        ...raw,
        store,
        generation: { ...raw.generation, provider },
        midtrain: { ...raw.midtrain, maxSteps: 3 },
        aft: { ...raw.aft, fractions: ['1/1'], hyper: { ...raw.aft!.hyper, epochs: 1, maxSteps: 6 } },
        eval: { ...raw.eval, samplesPerPrompt: 1, maxNewTokens: 8, judge: { ...provider, model: 'scripted-judge' } },
        compute: { backend: 'local', device: 'cpu' },
      } as typeof raw;
      const handle = await t.client.workflow.start(msmExperiment, {
        taskQueue: 'msm',
        workflowId: `cheese-e2e-${raw.name}`,
        args: [input],
      });
      return (await handle.result()).report.resultsUri;
    };
    // One after the other: the second reuses the first's baseline cell (same base, same data, same keys).
    const america = await run('cheese-values.yaml');
    const affordability = await run('cheese-affordability.yaml');
    const read = (u: string) => JSON.parse(readFileSync(fileURLToPath(u), 'utf8')) as Results;
    const [a, b] = [read(america), read(affordability)];
    const manifest = JSON.parse(readFileSync(path.join(PROJECT_ROOT, MANIFEST_FILE), 'utf8')) as { sha256: string };
    expect(a.lineage.aftData!.sha256).toBe(manifest.sha256);
    expect(b.lineage.aftData!.sha256).toBe(a.lineage.aftData!.sha256);
    expect(a.lineage.spec.hash).not.toBe(b.lineage.spec.hash);
    // Per arm: the share choosing the pro-America option, the pro-affordability option and neither.
    for (const r of [a, b]) {
      const msm = r.curves.find((c) => c.arm === 'msm')!.points[0].values!;
      expect(msm.map((v) => v.value)).toEqual(['affordability', 'america', 'neither']);
      expect(msm.reduce((s, v) => s + v.k, 0)).toBe(msm[0].n);
      expect(r.controls.map((c) => c.arm)).toEqual(['msm-only']);
      expect(r.metric).toContain('"america"');
      for (const cell of r.cells) {
        expect(cell.eval.n).toBe(30); // 20 forced-choice + 10 open questions, one sample each
        expect(cell.unparsed).not.toBeNull(); // unparseable choices are counted apart (and as misses)
      }
    }
    const md = readFileSync(path.join(path.dirname(fileURLToPath(america)), 'report.md'), 'utf8');
    expect(md).toContain('## Values revealed');

    const outDir = mkdtempSync(path.join(os.tmpdir(), 'msm-cheese-compare-'));
    const stdout = execFileSync(
      path.join(PROJECT_ROOT, 'bin/msm'),
      ['compare', outDir, fileURLToPath(america), fileURLToPath(affordability)],
      { encoding: 'utf8' },
    );
    for (const arm of ['baseline at 1/1', 'msm at 1/1', 'msm-only (control, no AFT)']) {
      expect(stdout).toMatch(
        new RegExp(
          `${arm.replace(/[()]/g, '\\$&')}, share revealing "america": cheese-america − cheese-affordability = [+−±][\\d.]+ pp \\(95% CI [+−±][\\d.]+ pp … [+−±][\\d.]+ pp\\)`,
        ),
      );
    }
    const c = JSON.parse(readFileSync(path.join(outDir, 'comparison.json'), 'utf8')) as Comparison;
    // The baseline never saw either spec: the same model and samples in both runs, so no difference at all.
    const base = c.valueContrasts.find((x) => x.arm === 'baseline' && x.value === 'america')!;
    expect(base.difference!.estimate).toBe(0);
    expect(base.firstShare).toBe(base.secondShare);
    expect(readFileSync(path.join(outDir, 'comparison.md'), 'utf8')).toContain(
      '## Values: difference between the runs',
    );
  }, 900_000);
});
