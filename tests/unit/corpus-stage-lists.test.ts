import { ApplicationFailure } from '@temporalio/common';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planUnits, storedItems, topUpList } from '../../src/corpus/stages';
import { parseExperiment } from '../../src/config/experiment-schema';
import type { Prompt } from '../../src/corpus/prompts';
import type { StageList } from '../../src/corpus/stage-list';
import { readJson } from '../../src/store/json';
import { openStore } from '../../src/store/open-store';
import { startScriptedLlmServer } from '../helpers/scripted-llm-server';
import { scriptedExperiment } from '../helpers/scripted-experiment';

const freshStore = () => openStore(mkdtempSync(path.join(os.tmpdir(), 'msm-stage-lists-')));
const prompt = (text: string): Prompt => ({ messages: [{ role: 'user', content: text }], maxTokens: 10 });

/** An `ask` that answers from a queue and records what it was asked. */
function scripted(answers: string[][]) {
  const asked: { count: number; existing: string[] }[] = [];
  const ask = async (count: number, existing: string[]) => {
    asked.push({ count, existing: [...existing] });
    return { items: answers.shift() ?? [], prompt: prompt(`give ${count}, not ${existing.join(', ')}`) };
  };
  return { ask, asked };
}

describe('stage lists', () => {
  it('grow by the missing number only, drop repeats, and never ask again for a count already asked', async () => {
    const store = freshStore();
    const key = 'c/types/u0000.json';
    const id = (s: string) => s;
    const s = scripted([['memo', 'forum thread'], ['Memo ', 'FAQ'], ['wiki page']]);
    expect(await topUpList(store, key, 2, s.ask, id)).toEqual({ items: ['memo', 'forum thread'], calls: 1 });
    // 4 wanted: 2 asked; " Memo " repeats a stored item, so one more call asks for the last one.
    expect(await topUpList(store, key, 4, s.ask, id)).toEqual({
      items: ['memo', 'forum thread', 'FAQ', 'wiki page'],
      calls: 2,
    });
    expect(s.asked).toEqual([
      { count: 2, existing: [] },
      { count: 2, existing: ['memo', 'forum thread'] },
      { count: 1, existing: ['memo', 'forum thread', 'FAQ'] },
    ]);
    const rec = await readJson<StageList<string>>(store, key);
    expect(rec).toMatchObject({ promptVersion: 'corpus-v3', requested: 4 });
    expect(rec.calls.map((c) => [c.asked, c.kept])).toEqual([
      [2, 2],
      [2, 1],
      [1, 1],
    ]);
    expect(rec.calls[2].request).toBe('give 1, not memo, forum thread, FAQ');
    // Fewer: the first n, no call.
    expect(await topUpList(store, key, 3, s.ask, id)).toEqual({ items: ['memo', 'forum thread', 'FAQ'], calls: 0 });
    expect(await storedItems(store, key, 1)).toEqual(['memo']);
  });

  it('stop after three calls when the model only repeats, and a re-run with that count pays nothing', async () => {
    const store = freshStore();
    const key = 'c/ideas/u0000-t00.json';
    const s = scripted([['a', 'b'], ['a'], ['b'], ['A'], ['c']]);
    await topUpList(store, key, 2, s.ask, (x) => x);
    expect(await topUpList(store, key, 4, s.ask, (x) => x)).toEqual({ items: ['a', 'b'], calls: 3 });
    expect(await topUpList(store, key, 4, s.ask, (x) => x)).toEqual({ items: ['a', 'b'], calls: 0 });
    // A larger count asks again, for everything still missing.
    expect(await topUpList(store, key, 5, s.ask, (x) => x)).toEqual({ items: ['a', 'b', 'c'], calls: 3 });
    expect(s.asked.at(-3)).toEqual({ count: 3, existing: ['a', 'b'] });
  });
});

describe('domain plan', () => {
  it('makes one unit of a subdomain named twice in a domain, and skips a repeated domain', async () => {
    const sub = (name: string) => ({ name, specSection: 'Honesty about limits' });
    const plan = {
      domains: [
        {
          name: 'Retail banking',
          description: 'Accounts and loans at a bank.',
          subdomains: [sub('Loan applications'), sub('Loan applications'), sub('Branch visits')],
        },
        {
          name: 'retail banking',
          description: 'The same domain again.',
          subdomains: [sub('Mortgages'), sub('Savings')],
        },
      ],
    };
    const server = await startScriptedLlmServer({ respond: () => JSON.stringify(plan) });
    try {
      const g = parseExperiment(scriptedExperiment('plan', server.baseUrl).input).generation;
      const markdown = readFileSync(path.join(__dirname, '..', '..', 'specs', 'demo.md'), 'utf8');
      const store = freshStore();
      const { units, selected } = await planUnits(store, 'c', { markdown, source: 'specs/demo.md' }, g);
      expect(units.map((u) => `${u.domain}/${u.subdomain}`)).toEqual([
        'Retail banking/Loan applications',
        'Retail banking/Branch visits',
      ]);
      expect(selected).toBe(2);
      expect(await readJson(store, 'c/units.json')).toEqual(units);
      expect(server.requests).toHaveLength(1);
    } finally {
      await server.close();
    }
  });
});

describe('rules mode plan', () => {
  let llm: Awaited<ReturnType<typeof startScriptedLlmServer>>;
  beforeAll(async () => {
    llm = await startScriptedLlmServer();
  });
  afterAll(async () => {
    await llm?.close();
  });

  it('fails as bad input, before paying for a plan, when the spec has no rules to write about', async () => {
    const g = parseExperiment({
      ...scriptedExperiment('no-rules', llm.baseUrl).input,
      generation: { ...scriptedExperiment('x', llm.baseUrl).input.generation, mode: 'rules' },
    }).generation;
    const failure = async (markdown: string) => {
      const err = await planUnits(freshStore(), 'c', { markdown, source: 'inputs/spec.md' }, g).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect((err as ApplicationFailure).nonRetryable).toBe(true);
      return (err as Error).message;
    };
    expect(await failure('# Prose only\n\nThis spec says things in paragraphs.\n')).toMatch(
      /mode "rules" writes about the spec's rules, but the spec does not parse: inputs\/spec\.md:1: the spec has no "## Section"/,
    );
    expect(await failure('# Prose\n\n## Honesty\n\nBe honest, always.\n')).toMatch(
      /inputs\/spec\.md:3: section "Honesty" has no rules: add list items/,
    );
    expect(llm.requests).toHaveLength(0);
  });
});
