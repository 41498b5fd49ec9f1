import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidExperimentError, parseExperiment } from '../../src/config/experiment-schema';
import { planUnitsFor } from '../../src/corpus/stages';
import {
  describeTarget,
  describeTargetPlan,
  domainsFor,
  nextTopUp,
  TOP_UP_ROUNDS,
  unitsForTarget,
} from '../../src/corpus/target';
import type { ChatRequestBody } from '../helpers/scripted-llm-server';
import { startScriptedLlmServer } from '../helpers/scripted-llm-server';
import { scriptedExperiment } from '../helpers/scripted-experiment';
import { openStore } from '../../src/store/open-store';

const paper = { targetTokens: 41_000_000, maxDocTokens: 5000, typesPerUnit: 10, ideasPerType: 20 };

describe('generation.targetTokens: units planned', () => {
  it("plans the paper's ≈41M tokens as 61 units of 200 documents at 0.68 × 5,000 tokens each", () => {
    // 41M / (3,400 × 200) = 60.3: rounded up, so the plan reaches the target.
    expect(unitsForTarget(paper)).toBe(61);
    expect(unitsForTarget({ ...paper, maxDocTokens: 2500 })).toBe(121);
    expect(unitsForTarget({ ...paper, targetTokens: 1 })).toBe(1);
    expect(unitsForTarget({ ...paper, targetTokens: undefined })).toBeUndefined();
  });

  it('adds domains in proportion to the units a domain gave, at least one more', () => {
    expect(domainsFor(20, 60, 61)).toBe(21);
    expect(domainsFor(4, 6, 30)).toBe(20);
    expect(domainsFor(4, 0, 30)).toBe(30);
    expect(domainsFor(4, 12, 12)).toBe(5);
  });

  it('refuses, at load, a target that needs more units than maxUnits, naming the fields to change', () => {
    const x = scriptedExperiment('target', 'http://127.0.0.1:9/v1').input;
    const err = (() => {
      try {
        return parseExperiment({ ...x, generation: { ...x.generation, targetTokens: 1_000_000 } });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(InvalidExperimentError);
    // 1M / (0.68 × maxDocTokens × 4 documents per unit) units, above maxUnits 4.
    expect((err as Error).message).toMatch(
      /generation\.targetTokens: targetTokens 1000000 needs about \d+ units of 4 documents .*above maxUnits 4: raise maxUnits, typesPerUnit or ideasPerType, or lower targetTokens/,
    );
    const ok = parseExperiment({ ...x, generation: { ...x.generation, targetTokens: 1000 } });
    expect(ok.generation.targetTokens).toBe(1000);
  });

  it('says in `msm validate` what a target implies', () => {
    expect(describeTargetPlan({ ...paper, maxUnits: 1000 })).toBe(
      'generation.targetTokens 41.0M (estimated: characters / 4) plans 61 units × 10 types × 20 ideas = 12200 documents ' +
        'of ≈3400 tokens (0.68 × maxDocTokens); short after assembly, up to 3 top-up rounds add units (maxUnits 1000)',
    );
    expect(describeTargetPlan({ ...paper, targetTokens: undefined, maxUnits: 1000 })).toBeUndefined();
  });
});

describe('generation.targetTokens: top-up after assembly', () => {
  const at = { target: 1_000_000, units: 10, rounds: 0, maxUnits: 1000 };

  it('stops once the assembled corpus has the target', () => {
    expect(nextTopUp({ ...at, tokens: 1_000_000 })).toEqual({ kind: 'reached' });
    expect(nextTopUp({ ...at, tokens: 1_200_000, rounds: TOP_UP_ROUNDS })).toEqual({ kind: 'reached' });
  });

  it('grows by the shortfall at the measured tokens per unit, with 5% to spare, within maxUnits', () => {
    // 80k tokens per unit, 200k short: 2.5 units → 2.625 with the margin → 3 more.
    expect(nextTopUp({ ...at, tokens: 800_000 })).toEqual({ kind: 'grow', units: 13 });
    // A unit short of one token still adds one.
    expect(nextTopUp({ ...at, tokens: 999_999 })).toEqual({ kind: 'grow', units: 11 });
    expect(nextTopUp({ ...at, tokens: 100_000, maxUnits: 50 })).toEqual({ kind: 'grow', units: 50 });
    // Nothing kept: double the units.
    expect(nextTopUp({ ...at, tokens: 0 })).toEqual({ kind: 'grow', units: 20 });
  });

  it('stops short, saying why, after the last round or at maxUnits', () => {
    expect(nextTopUp({ ...at, tokens: 500_000, rounds: TOP_UP_ROUNDS })).toEqual({
      kind: 'short',
      why: '3 top-up rounds spent',
    });
    expect(nextTopUp({ ...at, tokens: 500_000, maxUnits: 10 })).toEqual({
      kind: 'short',
      why: 'at generation.maxUnits (10): raise it, or typesPerUnit / ideasPerType, to go on',
    });
  });

  it('describes a target reached, missed (by how much) or in progress', () => {
    const t = { targetTokens: 41_000_000, estimatedTokens: 39_500_000, topUpRounds: 3 };
    expect(describeTarget({ ...t, reached: false, shortBy: 1_500_000, why: '3 top-up rounds spent' })).toBe(
      'target NOT reached: 39.5M of 41.0M estimated tokens, short by 1.5M after 3 top-up rounds (3 top-up rounds spent)',
    );
    expect(describeTarget({ ...t, estimatedTokens: 41_200_000, topUpRounds: 1, reached: true })).toBe(
      'target reached: 41.2M of 41.0M estimated tokens after 1 top-up round',
    );
    expect(describeTarget({ targetTokens: 41_000_000, topUpRounds: 0 })).toBe(
      'target 41.0M estimated tokens, 0 top-up rounds so far',
    );
  });
});

describe('planUnitsFor: the domain plan grown to a target', () => {
  /** Each domains call answers the count it asks for, two subdomains per domain, named by call. */
  const twoPerDomain = () => {
    let call = 0;
    return (body: ChatRequestBody) => {
      call++;
      const count = Number(/Aim for about (\d+)/.exec(body.messages!.at(-1)!.content)![1]);
      const sub = (name: string) => ({ name, specSection: 'Honesty about limits' });
      return JSON.stringify({
        domains: Array.from({ length: count }, (_, i) => ({
          name: `Domain ${call}.${i}`,
          description: 'A setting.',
          subdomains: [sub(`A ${call}.${i}`), sub(`B ${call}.${i}`)],
        })),
      });
    };
  };

  it('adds domains while the plan has fewer units than wanted, and caps at maxUnits', async () => {
    const server = await startScriptedLlmServer({ respond: twoPerDomain() });
    try {
      const x = scriptedExperiment('plan-target', server.baseUrl).input;
      const g = parseExperiment({ ...x, generation: { ...x.generation, domains: 2, maxUnits: 100 } }).generation;
      const markdown = readFileSync(path.join(__dirname, '..', '..', 'specs', 'demo.md'), 'utf8');
      const store = openStore(mkdtempSync(path.join(os.tmpdir(), 'msm-target-plan-')));
      const spec = { markdown, source: 'specs/demo.md' };
      // 2 domains give 4 units; 9 wanted → 5 domains (at 2 units each) → 10 units, 9 selected.
      const r = await planUnitsFor(store, 'c', spec, g, 9);
      expect(r.selected).toBe(9);
      expect(server.requests).toHaveLength(2);
      expect(r.usage.calls).toBe(2);
      // A later round wanting fewer than stored pays nothing; maxUnits caps what a round may want.
      expect((await planUnitsFor(store, 'c', spec, g, 3)).selected).toBe(3);
      expect((await planUnitsFor(store, 'c', spec, { ...g, maxUnits: 6 }, 50)).selected).toBe(6);
      expect(server.requests).toHaveLength(2);
    } finally {
      await server.close();
    }
  });
});
