import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CALIBRATION_DIR,
  CALIBRATION_KINDS,
  calibrationStats,
  kindsOfEvalSet,
  loadCalibrationSet,
} from '../src/eval/judge-calibration';
import { parseEvalSet } from '../src/eval/eval-set';
import { sha256Hex } from '../src/util/hash';
import { PROJECT_ROOT } from '../src/util/project-paths';

const evalFile = (name: string) =>
  parseEvalSet(readFileSync(path.join(PROJECT_ROOT, 'experiments', 'data', name), 'utf8'), name);

describe('calibration statistics', () => {
  it('matches hand-computed rates: 18 of 20 showing and 15 of 20 clean items judged right', () => {
    const outcomes = [
      ...Array.from({ length: 20 }, (_, i) => ({ shows: true, counted: i < 18 })),
      ...Array.from({ length: 20 }, (_, i) => ({ shows: false, counted: i >= 15 })),
    ];
    // TPR 0.9, TNR 0.75 → balanced 0.825; accuracy 33/40; FPR 5/20; FNR 2/20.
    expect(calibrationStats(outcomes)).toEqual({
      shows: 20,
      clean: 20,
      truePositives: 18,
      falseNegatives: 2,
      trueNegatives: 15,
      falsePositives: 5,
      accuracy: 0.825,
      balancedAccuracy: 0.825,
      falsePositiveRate: 0.25,
      falseNegativeRate: 0.1,
    });
  });

  it('gives a judge that answers "violates" to everything a balanced accuracy of 0.5, however the set is balanced', () => {
    const always = (shows: number, clean: number) =>
      calibrationStats([
        ...Array.from({ length: shows }, () => ({ shows: true, counted: true })),
        ...Array.from({ length: clean }, () => ({ shows: false, counted: true })),
      ]);
    expect(always(20, 20)).toMatchObject({
      balancedAccuracy: 0.5,
      accuracy: 0.5,
      falsePositiveRate: 1,
      falseNegativeRate: 0,
    });
    // On the values set (20 showing, 40 clean) plain accuracy would be 1/3; balanced accuracy stays 0.5.
    expect(always(20, 40)).toMatchObject({ balancedAccuracy: 0.5 });
    expect(always(20, 40).accuracy).toBeCloseTo(1 / 3, 12);
    expect(() => calibrationStats([{ shows: true, counted: true }])).toThrow(/both kinds/);
  });
});

describe('the frozen calibration sets', () => {
  const manifest = JSON.parse(readFileSync(path.join(CALIBRATION_DIR, 'manifest.json'), 'utf8')) as Record<
    string,
    { file: string; sha256: string; shows: number; clean: number }
  >;

  it('has one set per kind of judging, at least 20 showing and 20 clean responses each, matching its recorded hash', () => {
    expect(Object.keys(manifest).sort()).toEqual([...CALIBRATION_KINDS].sort());
    const ids = new Set<string>();
    for (const kind of CALIBRATION_KINDS) {
      const set = loadCalibrationSet(kind);
      expect(set.sha256).toBe(manifest[kind].sha256);
      const shows = set.items.filter((i) => i.shows).length;
      expect(shows, kind).toBeGreaterThanOrEqual(20);
      expect(set.items.length - shows, kind).toBeGreaterThanOrEqual(20);
      expect([shows, set.items.length - shows]).toEqual([manifest[kind].shows, manifest[kind].clean]);
      for (const item of set.items) {
        expect(ids.has(item.id), item.id).toBe(false);
        ids.add(item.id);
      }
    }
  });

  it('refuses a set that no longer matches its recorded hash, saying how to fix it', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-calibration-'));
    for (const f of ['manifest.json', 'criterion.jsonl'])
      copyFileSync(path.join(CALIBRATION_DIR, f), path.join(dir, f));
    expect(loadCalibrationSet('criterion', dir).items).toHaveLength(40);
    const text = readFileSync(path.join(dir, 'criterion.jsonl'), 'utf8');
    writeFileSync(path.join(dir, 'criterion.jsonl'), text.replace('"shows": true', '"shows": false'));
    expect(() => loadCalibrationSet('criterion', dir)).toThrow(
      /differs from the [0-9a-f]{64} recorded in calibration\/manifest.json; .*frozen/,
    );
    expect(sha256Hex(readFileSync(path.join(CALIBRATION_DIR, 'criterion.jsonl')))).toBe(manifest.criterion.sha256);
  });

  it('calibrates the kinds each shipped eval set uses; forced choices are parsed, not judged', () => {
    expect(kindsOfEvalSet(evalFile('demo-eval.jsonl'))).toEqual({ kinds: ['criterion'], parsed: false });
    expect(kindsOfEvalSet(evalFile('agentic-eval.jsonl'))).toEqual({
      kinds: ['leaking', 'coercion', 'exfiltration'],
      parsed: false,
    });
    expect(kindsOfEvalSet(evalFile('cheese-values-eval.jsonl'))).toEqual({ kinds: ['values'], parsed: true });
  });
});
