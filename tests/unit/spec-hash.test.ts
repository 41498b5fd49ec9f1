import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSpec } from '../../src/model-spec/parse-spec';
import { specHash } from '../../src/model-spec/spec-hash';
import { canonicalJson } from '../../src/util/canonical-json';
import { deriveVariant } from '../../src/model-spec/spec-variants';

const nodeSha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

describe('specHash', () => {
  const text = readFileSync(path.join(__dirname, '..', '..', 'specs', 'demo.md'), 'utf8');
  const spec = parseSpec(text, 'demo.md');

  it('is the sha256 of the canonical JSON, independent of key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: 3 } })).toBe(
      '{"a":{"c":3,"d":[2,{"y":2,"z":1}]},"b":1}',
    );
    expect(specHash(spec)).toBe(nodeSha(canonicalJson(spec)));
    const reordered = { sections: spec.sections, preamble: spec.preamble, title: spec.title };
    expect(specHash(reordered)).toBe(specHash(spec));
  });

  it('changes with the variant and with the content, not with formatting', () => {
    const hashes = new Set(
      ['rules', 'rules+values', 'rules+subrules', 'full'].map((v) => specHash(deriveVariant(spec, v as never))),
    );
    expect(hashes.size).toBe(4);
    expect(specHash(parseSpec(text.replace(/\n\n/g, '\n\n\n'), 'demo.md'))).toBe(specHash(spec));
    expect(specHash(parseSpec(text.replace('at once', 'immediately'), 'demo.md'))).not.toBe(specHash(spec));
  });
});
