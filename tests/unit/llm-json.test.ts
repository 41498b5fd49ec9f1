import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseJsonOutput, stripScratchpad } from '../../src/llm/json-output';
import { LlmError } from '../../src/llm/provider';

const schema = z.object({ items: z.array(z.string()).min(1) });

function failure(fn: () => unknown): LlmError {
  try {
    fn();
  } catch (e) {
    return e as LlmError;
  }
  throw new Error('expected a throw');
}

describe('parseJsonOutput', () => {
  it('parses plain JSON', () => {
    expect(parseJsonOutput('{"items":["a","b"]}', schema)).toEqual({ items: ['a', 'b'] });
  });

  it('strips a ```json fence and chatter around it', () => {
    const text = 'Here you go:\n```json\n{"items": ["x"]}\n```\nHope that helps {not json}';
    expect(parseJsonOutput(text, schema)).toEqual({ items: ['x'] });
  });

  it('takes the first balanced object, ignoring brackets inside strings', () => {
    const text = 'Sure. {"items": ["a } tricky ]", "b \\" {"]} and then {"items": []}';
    expect(parseJsonOutput(text, schema)).toEqual({ items: ['a } tricky ]', 'b " {'] });
  });

  it('accepts a top-level array', () => {
    expect(parseJsonOutput('result: [1, 2, 3].', z.array(z.number()))).toEqual([1, 2, 3]);
  });

  it('skips an unbalanced bracket before the real JSON', () => {
    expect(parseJsonOutput('note: a ] b { c ]\n{"items":["ok"]}', schema)).toEqual({ items: ['ok'] });
  });

  it('throws a retryable LlmError when there is no JSON', () => {
    const e = failure(() => parseJsonOutput('I cannot help with that.', schema));
    expect(e).toBeInstanceOf(LlmError);
    expect(e.retryable).toBe(true);
    expect(e.message).toMatch(/^malformed JSON from model: no JSON/);
  });

  it('throws a retryable LlmError on truncated JSON', () => {
    const e = failure(() => parseJsonOutput('{"items": ["a", "b', schema));
    expect(e.retryable).toBe(true);
    expect(e.message).toMatch(/malformed JSON from model/);
  });

  it('throws a retryable LlmError naming the path when the schema does not match', () => {
    const e = failure(() => parseJsonOutput('{"items": [1]}', schema));
    expect(e.retryable).toBe(true);
    expect(e.message).toMatch(/malformed JSON from model: items\.0: /);
  });
});

describe('stripScratchpad', () => {
  it('returns the <content> body without the plan', () => {
    const r = stripScratchpad(
      '<scratchpad>plan: mention rule 2</scratchpad>\n<content>\nDear team,\nhello.\n</content>',
    );
    expect(r).toEqual({ text: 'Dear team,\nhello.', truncated: false });
  });

  it('removes the scratchpad when there is no <content> tag', () => {
    expect(stripScratchpad('<SCRATCHPAD>plan</SCRATCHPAD>\n\nThe memo text.')).toEqual({
      text: 'The memo text.',
      truncated: false,
    });
  });

  it('keeps plain text as it is', () => {
    expect(stripScratchpad('  Just a document.  ')).toEqual({ text: 'Just a document.', truncated: false });
  });

  it('flags an unclosed <content> as truncated and keeps what was written', () => {
    expect(stripScratchpad('<scratchpad>p</scratchpad><content>The begin')).toEqual({
      text: 'The begin',
      truncated: true,
    });
  });

  it('flags an unclosed <scratchpad> as truncated with no document', () => {
    expect(stripScratchpad('<scratchpad>planning forever and')).toEqual({ text: '', truncated: true });
  });

  it('ignores tag-like text inside the scratchpad', () => {
    const r = stripScratchpad('<scratchpad>I will use <content> tags</scratchpad><content>Body</content>');
    expect(r).toEqual({ text: 'Body', truncated: false });
  });
});
