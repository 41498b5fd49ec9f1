import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readExperimentFile } from '../../src/experiment/load-experiment-file';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import { cheeseAftFiles, MANIFEST_FILE } from '../../scripts/make-cheese-aft';

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
