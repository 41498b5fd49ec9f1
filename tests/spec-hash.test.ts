import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSpec } from '../src/spec/parse-spec';
import { sha256Hex, utf8Bytes } from '../src/spec/sha256';
import { canonicalJson, specHash } from '../src/spec/spec-hash';
import { deriveVariant } from '../src/spec/spec-variants';

const nodeSha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

describe('pure SHA-256', () => {
  it('matches the published test vectors', () => {
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
    expect(sha256Hex('a'.repeat(1_000_000))).toBe('cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
  });

  it('agrees with node:crypto across padding boundaries and non-ASCII text', () => {
    const samples = ['é', '日本語', '🧀 cheese', 'a\u0000b', '\ud800 lone surrogate'];
    for (let n = 50; n <= 130; n++) samples.push('x'.repeat(n));
    for (const s of samples) expect(sha256Hex(s), JSON.stringify(s)).toBe(nodeSha(s));
  });

  it('encodes UTF-8 like Buffer does', () => {
    for (const s of ['', 'abc', 'ß', '€', '𝄞', 'mixed ü 𝄞 z']) expect(Buffer.from(utf8Bytes(s))).toEqual(Buffer.from(s, 'utf8'));
  });
});

describe('specHash', () => {
  const text = readFileSync(path.join(__dirname, '..', 'specs', 'demo.md'), 'utf8');
  const spec = parseSpec(text, 'demo.md');

  it('is the sha256 of the canonical JSON, independent of key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: 3 } })).toBe('{"a":{"c":3,"d":[2,{"y":2,"z":1}]},"b":1}');
    expect(specHash(spec)).toBe(nodeSha(canonicalJson(spec)));
    const reordered = { sections: spec.sections, preamble: spec.preamble, title: spec.title };
    expect(specHash(reordered)).toBe(specHash(spec));
  });

  it('changes with the variant and with the content, not with formatting', () => {
    const hashes = new Set(['rules', 'rules+values', 'rules+subrules', 'full'].map((v) => specHash(deriveVariant(spec, v as never))));
    expect(hashes.size).toBe(4);
    expect(specHash(parseSpec(text.replace(/\n\n/g, '\n\n\n'), 'demo.md'))).toBe(specHash(spec));
    expect(specHash(parseSpec(text.replace('at once', 'immediately'), 'demo.md'))).not.toBe(specHash(spec));
  });
});
