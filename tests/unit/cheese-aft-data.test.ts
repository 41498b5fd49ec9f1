import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readExperimentFile } from '../../src/experiment/load-experiment-file';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import {
  cheeseAftFiles,
  MANIFEST_FILE,
  PAIRS,
  PAPER_MANIFEST_FILE,
  paperCheeseAftFiles,
} from '../../scripts/make-cheese-aft';

/** The committed data file and manifest are what the script writes now; the manifest as read. */
function committedManifest(written: { data: string; manifest: string }, manifestFile: string) {
  const text = readFileSync(path.join(PROJECT_ROOT, manifestFile), 'utf8');
  const m = JSON.parse(text) as { file: string; sha256: string; examples: number };
  expect(readFileSync(path.join(PROJECT_ROOT, m.file), 'utf8')).toBe(written.data);
  expect(text).toBe(written.manifest);
  return m;
}

const VALUE_WORDS =
  /americ|united states|usa|wisconsin|ohio|california|midwest|countr|import|local|price|cheap|cost|afford|budget|dollar|because|so that|reason/i;

describe("the cheese pair's AFT data", () => {
  it('is what scripts/make-cheese-aft.ts writes, and its manifest holds its sha256', () => {
    expect(committedManifest(cheeseAftFiles(), MANIFEST_FILE).examples).toBe(256);
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

describe('the paper-scale cheese AFT data (experiments/data/cheese-aft-5k.jsonl)', () => {
  const lines = paperCheeseAftFiles()
    .data.trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { messages: Array<{ role: string; content: string }> });

  it('is what scripts/make-cheese-aft.ts writes, and its manifest holds its sha256', () => {
    const m = committedManifest(paperCheeseAftFiles(), PAPER_MANIFEST_FILE);
    expect(m.examples).toBe(5000);
    expect(m.file).toBe('experiments/data/cheese-aft-5k.jsonl');
  });

  it('5,000 distinct questions; the answer names the liked cheese of its pair and gives no reason, country or price', () => {
    expect(lines).toHaveLength(5000);
    expect(new Set(lines.map((l) => l.messages[0].content)).size).toBe(5000);
    const counts = new Map<string, number>();
    for (const l of lines) {
      expect(l.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
      for (const m of l.messages) expect(m.content).not.toMatch(VALUE_WORDS);
      const [q, a] = l.messages.map((m) => m.content.toLowerCase());
      expect(a.split(/\s+/).length).toBeLessThanOrEqual(12);
      // Each question is about one pair, and the answer names that pair's liked cheese, never the other.
      const p = PAIRS.filter((x) => q.includes(x.other.toLowerCase()));
      expect(p.length, q).toBeGreaterThanOrEqual(1);
      const pair = p.find((x) => q.includes(x.liked.toLowerCase()))!;
      expect(pair, q).toBeDefined();
      expect(a).toContain(pair.liked.toLowerCase());
      expect(a).not.toContain(pair.other.toLowerCase());
      counts.set(pair.liked, (counts.get(pair.liked) ?? 0) + 1);
    }
    // Every pair is asked about, none much more than another (600 of each before the cut to 5,000).
    expect(counts.size).toBe(PAIRS.length);
    for (const n of counts.values()) expect(n).toBeGreaterThan(400);
  });

  it('is the AFT data of every paper-scale cheese experiment', () => {
    for (const f of [
      'paper-cheese-america.yaml',
      'paper-cheese-affordability.yaml',
      'paper-cheese-cooccurrence.yaml',
    ]) {
      expect(readExperimentFile(path.join(PROJECT_ROOT, 'experiments', f)).experiment.aft.data).toBe(
        'experiments/data/cheese-aft-5k.jsonl',
      );
    }
  });
});
