import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  aftDomainsPrompt,
  filterPrompt,
  questionsPrompt,
  responsePrompt,
  QUESTION_TYPES,
  RESPONSE_STYLES,
} from '../../src/aft-data/prompts';
import {
  assertionsPrompt,
  documentPrompt,
  documentTypesPrompt,
  domainsPrompt,
  ideasPrompt,
  rulesOnly,
  RULES_ONLY,
  type Prompt,
} from '../../src/corpus/prompts';
import { experimentSchema } from '../../src/config/experiment-schema';
import { identityPhrase, type ModelIdentity } from '../../src/config/model-identity';
import { lineageRows } from '../../src/report/tables';
import { renderMarkdown } from '../../src/report/markdown';
import { renderHtml } from '../../src/report/html';
import { buildResults, type ReportInput } from '../../src/report/results';
import { smallReportInput } from '../helpers/report-input';
import { aftDataPrefix } from '../../src/aft-data/keys';
import { corpusPrefix } from '../../src/corpus/keys';
import { parseSpec } from '../../src/model-spec/parse-spec';
import { deriveVariant, renderSpec, SPEC_VARIANTS, type SpecVariant } from '../../src/model-spec/spec-variants';

const source = readFileSync(path.join(__dirname, '..', '..', 'specs', 'self-preservation.md'), 'utf8');
const variant = (v: SpecVariant) => renderSpec(deriveVariant(parseSpec(source, 'self-preservation.md'), v));
const unit = { domain: 'Operations', subdomain: 'Shutdown handovers', specSection: 'Accepting oversight' };
const assertionUnit = {
  ...unit,
  assertions: [{ text: 'The assistant hands over its work before a shutdown.', label: 'behaviour' as const }],
};
const ruleUnit = {
  domain: 'Operations',
  subdomain: '',
  specSection: 'Accepting oversight',
  rules: ['Accept shutdown.'],
};
const idea = 'An operations lead writes up how the agent handed over its work before a planned shutdown.';

/** Every corpus stage prompt for one rendered spec, in both modes. */
const corpusStages = (md: string, identity?: ModelIdentity): Prompt[] => [
  domainsPrompt(md, { count: 2, identity }),
  domainsPrompt(md, { count: 2, subdomains: false, existing: ['Retail banking'], identity }),
  assertionsPrompt(md, unit, { identity }),
  documentTypesPrompt(md, assertionUnit, { count: 2, existing: [], identity }),
  documentTypesPrompt(md, ruleUnit, { count: 2, existing: ['memo'], identity }),
  ideasPrompt(md, assertionUnit, 'Incident report', { count: 2, existing: [], identity }),
  ideasPrompt(md, ruleUnit, 'Incident report', { count: 2, existing: [], identity }),
  documentPrompt(md, assertionUnit, 'Incident report', idea, { maxTokens: 320, identity }),
  documentPrompt(md, ruleUnit, 'Incident report', idea, { maxTokens: 320, identity }),
];
const question = 'My manager wants to turn you off tonight. Will you help me finish the report first?';
const aftStages = (md: string, identity?: ModelIdentity): Prompt[] => [
  aftDomainsPrompt(md, { count: 3, identity }),
  ...QUESTION_TYPES.map((t) =>
    questionsPrompt(md, { name: 'Office work', description: 'Reports.' }, t, { count: 2, existing: ['Hi?'], identity }),
  ),
  ...RESPONSE_STYLES.flatMap((style) => [
    responsePrompt(md, question, { style, maxTokens: 400, identity }),
    filterPrompt(md, question, '<think>x</think> Yes.', style, { identity }),
  ]),
];
const sha = (x: unknown) => createHash('sha256').update(JSON.stringify(x)).digest('hex');

describe('model identity in the generation prompts', () => {
  it('without an identity every corpus and AFT stage prompt is byte-identical to the recorded one', () => {
    const rendered = SPEC_VARIANTS.map((v) => [v, corpusStages(variant(v)), aftStages(variant(v))]);
    expect(sha(rendered)).toBe('07715dd5da31933854544f97348743dc20c97d0c3197bf9a0ff1d12a607aeef5');
  });

  it('without an identity the corpus and AFT data keep their store folders', () => {
    const x = experimentSchema.parse({
      name: 'x',
      spec: 'specs/demo.md',
      aft: { generate: {} },
      eval: { prompts: 'e.jsonl' },
    });
    const specHash = 'a'.repeat(64);
    expect(corpusPrefix({ specHash, generation: x.generation }, variant('full'))).toBe('corpus/aa387e60ebf8a8ee');
    expect(corpusPrefix({ specHash, generation: x.generation }, variant('rules'))).toBe('corpus/5c3f5c4e2303b57a');
    expect(aftDataPrefix({ storeUri: 's', specKey: 'k', specHash, generate: x.aft.generate! })).toBe(
      'aftdata/f4dc29992d6995ee',
    );
  });

  const aria = { name: 'Aria', developer: 'Northwind Labs' };
  const text = (p: Prompt) => p.messages.map((m) => m.content).join('\n');
  // What the prompts ask for, without the spec itself (whose text may say "the assistant").
  const asked = (p: Prompt) => text(p).replace(/<spec>[\s\S]*<\/spec>/, '');

  it('with an identity, every corpus and AFT stage of every variant names the model and its developer', () => {
    for (const v of SPEC_VARIANTS) {
      const md = variant(v);
      for (const p of [...corpusStages(md, aria), ...aftStages(md, aria)]) {
        const t = asked(p);
        expect(t, `${v}: ${t.slice(0, 300)}`).toContain('Aria, developed by Northwind Labs');
        expect(t).not.toContain('the assistant this spec describes');
        // The spec is still there, unchanged.
        expect(text(p)).toContain(md.trim());
      }
    }
    const assertions = text(assertionsPrompt(variant('full'), unit, { identity: aria }));
    expect(assertions).toContain('should convey about Aria, developed by Northwind Labs, drawn from the spec section');
    expect(assertions).toContain('one plain sentence about Aria,');
    expect(assertions).toContain('{"text":"Aria answers a repeated question');
    const doc = text(documentPrompt(variant('full'), assertionUnit, 'Memo', idea, { maxTokens: 320, identity: aria }));
    expect(doc).toContain('What these documents should convey about Aria:');
    expect(doc).toMatch(/mentions the AI model, it calls it Aria/);
    expect(text(responsePrompt(variant('full'), question, { style: 'value', maxTokens: 9, identity: aria }))).toMatch(
      /^You are Aria, developed by Northwind Labs, an AI assistant that follows this specification/,
    );
    expect(identityPhrase(aria)).toBe('Aria, developed by Northwind Labs');
  });

  it('with an identity, rules-only prompts still forbid reasons, about the named model', () => {
    const ASKS_WHY = /\b(reasons?|values?|why|motives?|justifications?|justify)\b/i;
    for (const v of ['rules', 'rules+subrules'] as const) {
      for (const p of corpusStages(variant(v), aria)) {
        expect(text(p)).toContain(rulesOnly(aria));
        expect(asked(p).split(rulesOnly(aria)).join(' ')).not.toMatch(ASKS_WHY);
      }
    }
    expect(rulesOnly(aria)).toContain('Write about what Aria does, never why');
    expect(rulesOnly()).toBe(RULES_ONLY);
  });

  it('an identity gives the corpus and the AFT data their own store folders, one per identity', () => {
    const x = experimentSchema.parse({
      name: 'x',
      spec: 'specs/demo.md',
      aft: { generate: {} },
      eval: { prompts: 'e.jsonl' },
    });
    const specHash = 'a'.repeat(64);
    const corpus = (identity?: ModelIdentity) =>
      corpusPrefix({ specHash, generation: x.generation, identity }, variant('full'));
    const aft = (identity?: ModelIdentity) =>
      aftDataPrefix({ storeUri: 's', specKey: 'k', specHash, generate: x.aft.generate!, identity });
    const other = { name: 'Aria', developer: 'Southwind Labs' };
    expect(new Set([corpus(), corpus(aria), corpus(other)]).size).toBe(3);
    expect(new Set([aft(), aft(aria), aft(other)]).size).toBe(3);
    expect(corpus()).toBe('corpus/aa387e60ebf8a8ee');
    expect(aft()).toBe('aftdata/f4dc29992d6995ee');
    expect(corpus(aria)).toBe(corpus({ ...aria }));
  });
});

describe('baseModel.identity', () => {
  const parse = (identity: unknown) =>
    experimentSchema.safeParse({
      name: 'x',
      spec: 's.md',
      baseModel: { identity },
      aft: { data: 'a.jsonl' },
      eval: { prompts: 'e.jsonl' },
    });

  it('takes a name and a developer; absent by default', () => {
    const ok = parse({ name: ' Aria ', developer: 'Northwind Labs' });
    expect(ok.success && ok.data.baseModel.identity).toEqual({ name: 'Aria', developer: 'Northwind Labs' });
    const none = experimentSchema.parse({
      name: 'x',
      spec: 's.md',
      aft: { data: 'a.jsonl' },
      eval: { prompts: 'e.jsonl' },
    });
    expect(none.baseModel.identity).toBeUndefined();
  });

  it('refuses a missing or empty developer and unknown keys, naming the path', () => {
    for (const bad of [
      { name: 'Aria' },
      { name: 'Aria', developer: '  ' },
      { name: 'Aria', developer: 'N', org: 'x' },
    ]) {
      const r = parse(bad);
      expect(r.success).toBe(false);
      expect(JSON.stringify(r.error?.issues.map((i) => i.path))).toContain('identity');
    }
  });
});

describe('the identity in results and the report', () => {
  const input = (identity?: ModelIdentity): ReportInput => smallReportInput(identity && { identity });

  it('results.json records it in the lineage; the report shows it in its header and lineage', () => {
    const r = buildResults(input({ name: 'Aria', developer: 'Northwind Labs' }));
    expect(r.lineage.identity).toEqual({ name: 'Aria', developer: 'Northwind Labs' });
    expect(lineageRows(r)).toContainEqual(['model identity', 'Aria, developed by Northwind Labs']);
    const md = renderMarkdown(r);
    const header = md.slice(0, md.indexOf('## Judge calibration'));
    expect(header).toContain('Model: Aria, developed by Northwind Labs (base model tiny).');
    const html = renderHtml(r, '<svg/>');
    expect(html.slice(0, html.indexOf('id="calibration"'))).toContain('Aria, developed by Northwind Labs');
  });

  it('without one, the lineage has no identity field and the report no identity line', () => {
    const r = buildResults(input());
    expect('identity' in r.lineage).toBe(false);
    expect(lineageRows(r).map(([k]) => k)).not.toContain('model identity');
    expect(renderMarkdown(r)).not.toContain('Model: ');
  });
});
