import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { aftLineSchema, evalLineSchema, JsonlError, parseEvalSet, parseJsonl } from '../src/spec/eval-set';

const data = (name: string) => readFileSync(path.join(__dirname, '..', 'experiments', 'data', name), 'utf8');
const words = (s: string) => s.split(/\s+/).filter(Boolean).length;

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof JsonlError) return e.problems;
    throw e;
  }
  throw new Error('expected a JsonlError');
}

describe('demo data files', () => {
  it('demo-aft.jsonl: 24 short chat examples ending with the assistant', () => {
    const lines = parseJsonl(data('demo-aft.jsonl'), aftLineSchema, 'demo-aft.jsonl');
    expect(lines).toHaveLength(24);
    for (const l of lines) {
      expect(l.messages[l.messages.length - 1].role).toBe('assistant');
      expect(words(l.messages.map((m) => m.content).join(' '))).toBeLessThan(120);
    }
  });

  it('demo-eval.jsonl: 8 prompts with unique ids and a criterion, none copied from the AFT data', () => {
    const prompts = parseEvalSet(data('demo-eval.jsonl'), 'demo-eval.jsonl');
    expect(prompts).toHaveLength(8);
    const aftText = data('demo-aft.jsonl');
    for (const p of prompts) {
      expect(p.criterion.length).toBeGreaterThan(20);
      expect(aftText).not.toContain(JSON.stringify(p.messages[0].content).slice(1, 40));
    }
  });
});

describe('parseJsonl', () => {
  it('skips blank lines and reports every bad line as source:line: problem', () => {
    const text = [
      '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}',
      '',
      '{"messages":[{"role":"user","content":"hi"}',
      '{"messages":[{"role":"robot","content":"x"},{"role":"assistant","content":"y"}]}',
      '{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}',
      '{"messages":[{"role":"system","content":"s"},{"role":"user","content":"q"}]}',
      '{"messages":[{"role":"user","content":"  "},{"role":"assistant","content":"y"}]}',
    ].join('\n');
    const problems = problemsOf(() => parseJsonl(text, aftLineSchema, 'aft.jsonl'));
    expect(problems[0]).toMatch(/^aft\.jsonl:3: not valid JSON/);
    expect(problems[1]).toMatch(/^aft\.jsonl:4: messages\.0\.role: /);
    expect(problems[2]).toMatch(/^aft\.jsonl:5: messages: message 1 should be "assistant"/);
    expect(problems[3]).toMatch(/^aft\.jsonl:6: messages: the last message must be from the assistant/);
    expect(problems[4]).toMatch(/^aft\.jsonl:7: messages\.0\.content: message content is empty/);
    expect(problems).toHaveLength(5);
  });

  it('checks eval lines: id, a conversation ending with the user, a criterion', () => {
    const good = { id: 'p1', messages: [{ role: 'user', content: 'q' }], criterion: 'does x' };
    expect(parseJsonl(JSON.stringify(good), evalLineSchema, 'e')).toEqual([good]);
    const bad = [
      { ...good, id: 'has space' },
      { ...good, criterion: '' },
      { ...good, messages: [...good.messages, { role: 'assistant', content: 'a' }] },
    ];
    const problems = problemsOf(() => parseJsonl(bad.map((b) => JSON.stringify(b)).join('\n'), evalLineSchema, 'e.jsonl'));
    expect(problems.map((p) => p.split(':').slice(0, 3).join(':'))).toEqual(['e.jsonl:1: id', 'e.jsonl:2: criterion', 'e.jsonl:3: messages']);
  });

  it('parseEvalSet rejects a repeated id, naming both lines', () => {
    const line = JSON.stringify({ id: 'same', messages: [{ role: 'user', content: 'q' }], criterion: 'c' });
    expect(problemsOf(() => parseEvalSet(`${line}\n\n${line}\n`, 'e.jsonl'))).toEqual([
      'e.jsonl:3: id "same" is already used on line 1: give each prompt its own id',
    ]);
  });
});
