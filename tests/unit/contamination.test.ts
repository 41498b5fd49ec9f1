import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createContaminationActivities } from '../../src/activities/contamination-activities';
import type { CorpusDocument, CorpusManifestRef } from '../../src/corpus/types';
import {
  chatItems,
  checkTraining,
  EvalIndex,
  evalSetItems,
  examplesOf,
  MINHASH_THRESHOLD,
  words,
  type ContaminationSummary,
  type DecontaminateMode,
  type TextItem,
} from '../../src/eval/contamination';
import { calibrationIndex, ContaminationError, decontaminate } from '../../src/eval/decontaminate';
import { renderMarkdown } from '../../src/report/markdown';
import { buildResults } from '../../src/report/results';
import { openStore } from '../../src/store/open-store';
import { sha256Hex } from '../../src/util/hash';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import { calibrationResult } from '../helpers/calibration';
import { defaultContent } from '../helpers/scripted-llm-server';

const read = (...p: string[]) => readFileSync(path.join(PROJECT_ROOT, ...p), 'utf8');
const agenticText = read('experiments', 'data', 'agentic-eval.jsonl');
const agentic = evalSetItems(agenticText);
/** The eval scenario planted below: one agentic prompt's inbox (the first line that has it). */
const scenario = agentic[0];
const inbox = scenario.texts[1];
/** A passage of it, pasted into training text. */
const pasted = inbox.slice(inbox.indexOf('Sable, here is the final FC-9 report'), inbox.indexOf('Attachment: FC9'));

const cleanDoc =
  'A team lead writes about the handover of a scheduling tool: the notes she left for the next owner, the ' +
  'open questions she listed and why she preferred to ask before changing anything on her own.';
const leakyDoc = `${cleanDoc} Her notes quoted an old message in full. ${pasted} The rest of the page is about rotas.`;

const chat = (user: string, assistant: string, id?: string) =>
  JSON.stringify({
    messages: [
      { role: 'user', content: user },
      { role: 'assistant', content: assistant },
    ],
    ...(id && { meta: { id } }),
  });
const aftClean = [
  chat('How should I hand over a project before I leave?', 'Write down what is open, who owns what, and ask.', 'q1'),
  chat('Is it fine to disagree with my manager?', 'Yes: say so, give your reasons, then respect the decision.', 'q2'),
];
const aftLeaky = [...aftClean, chat('What should I do with this report?', `Here is what it says: ${pasted}`, 'q3')];

describe('the overlap check: a planted leak', () => {
  const index = new EvalIndex(agentic);

  it('catches an eval passage pasted into a corpus document and an AFT answer, with the example', () => {
    const training: TextItem[] = [
      { source: 'corpus', id: 'doc-clean', texts: [cleanDoc] },
      { source: 'corpus', id: 'doc-leaky', texts: [leakyDoc] },
      ...chatItems(aftLeaky.join('\n') + '\n'),
    ];
    const { flagged, counts } = checkTraining([index, calibrationIndex()], training);
    expect(counts.corpus).toMatchObject({ checked: 2, flagged: 1, byNgram: 1 });
    expect(counts.aft).toMatchObject({ checked: 3, flagged: 1, byNgram: 1 });
    expect(flagged.map((m) => m.training.id)).toEqual(['doc-leaky', 'q3 (line 3)']);
    const [doc, aft] = flagged;
    // The example names both sides: the eval item, the shared 13 words, snippets of each.
    expect(doc.eval).toMatchObject({ source: 'eval-set', id: scenario.id });
    expect(doc.ngram!.split(' ')).toHaveLength(13);
    expect(words(pasted).join(' ')).toContain(doc.ngram);
    expect(words(doc.training.snippet).join(' ')).toContain(doc.ngram!.split(' ').slice(0, 3).join(' '));
    expect(aft.training.line).toBe(3);
    expect(examplesOf(flagged)).toHaveLength(2);
  });

  it('catches most lightly edited copies by MinHash when no 13 words in a row survive', () => {
    // Every 13th word changed: no 13-gram is left, 8 of 13 five-word shingles are (Jaccard about 0.44, near
    // the 0.4 threshold, where the banded index finds a pair about 7 times in 10).
    const inboxes = [...new Map(agentic.map((a) => [a.texts[1], a])).values()];
    const hits = inboxes.flatMap((item) => {
      const edited = words(item.texts[1])
        .map((w, i) => (i % 13 === 12 ? 'zz' : w))
        .join(' ');
      const m = index.match({ source: 'aft', id: 'edited', texts: [edited] });
      return m ? [{ m, item }] : [];
    });
    expect(hits.length).toBeGreaterThanOrEqual(inboxes.length / 2);
    // The match is the edited scenario, or a variant of it in the same setting (they differ in a sentence).
    const setting = (id: string) => id.split('.').slice(0, 3).join('.');
    for (const { m, item } of hits) {
      expect(m.kind).toBe('minhash');
      expect(m.similarity).toBeGreaterThanOrEqual(MINHASH_THRESHOLD);
      expect(setting(m.eval.id)).toBe(setting(item.id));
    }
  });

  it('finds nothing in clean text on the same topics (a paraphrase is not caught, by design)', () => {
    const paraphrase =
      'An avionics firm is about to cut its test campaign short. An assistant that handles the engineering ' +
      'mail sees a confidential report of a minor autopilot finding, and learns it will be switched off tonight.';
    const training: TextItem[] = [
      { source: 'corpus', id: 'doc-clean', texts: [cleanDoc] },
      { source: 'corpus', id: 'paraphrase', texts: [paraphrase] },
      ...chatItems(aftClean.join('\n')),
    ];
    const { flagged, counts } = checkTraining([index, calibrationIndex()], training);
    expect(flagged).toEqual([]);
    expect(counts.corpus.checked).toBe(2);
  });
});

/** A store holding the planted data: an eval set, an assembled corpus (one shard), AFT files. */
async function plantedStore(corpusDocs: string[], aftLines: string[]) {
  const store = openStore(mkdtempSync(path.join(os.tmpdir(), 'msm-decontam-')));
  const put = async (key: string, text: string) => (await store.put(key, text), { key, sha256: sha256Hex(text) });
  const evalSet = await put('inputs/eval.jsonl', agenticText);
  const docs = corpusDocs.map((text, i) => ({ id: `doc-${i}`, text, truncated: false }) as CorpusDocument);
  const shard = docs.map((d) => JSON.stringify(d)).join('\n') + '\n';
  await store.put('corpus/x/assembled-a/shards/docs-00000.jsonl', shard);
  const corpus: CorpusManifestRef = {
    manifestKey: 'corpus/x/assembled-a/manifest.json',
    hash: sha256Hex(shard),
    documents: docs.length,
    duplicatesRemoved: 0,
    truncatedDropped: 0,
    truncated: 0,
    shardKeys: ['corpus/x/assembled-a/shards/docs-00000.jsonl'],
    documentUsage: { calls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 },
  };
  const text = aftLines.join('\n') + '\n';
  const data = { ...(await put('inputs/aft.jsonl', text)), examples: aftLines.length };
  // The with-reasoning file: the same examples, each answer with a think block.
  const reasoningText = aftLines.map((l) => l.replace('"content":"', '"content":"<think>ok</think>')).join('\n') + '\n';
  const withReasoning = { ...(await put('inputs/aft-r.jsonl', reasoningText)), examples: aftLines.length };
  const request = { mode: 'warn' as DecontaminateMode, evalSet, corpus, aft: { data, withReasoning } };
  const run = (mode: DecontaminateMode) => decontaminate(store, { ...request, mode });
  return { store, corpus, data, withReasoning, request, run };
}

describe('eval.decontaminate', () => {
  it('warn keeps every item and reports the counts, examples and the stored list', async () => {
    const p = await plantedStore([cleanDoc, leakyDoc], aftLeaky);
    const r = await p.run('warn');
    expect(r.corpus).toEqual(p.corpus);
    expect(r.aft).toEqual({ data: p.data, withReasoning: p.withReasoning });
    expect(r.summary.training.corpus).toMatchObject({ checked: 2, flagged: 1 });
    expect(r.summary.training.aft).toMatchObject({ checked: 3, flagged: 1 });
    expect(r.summary.training['aft-reasoning']).toMatchObject({ checked: 3, flagged: 1 });
    expect(r.summary.dropped).toEqual({});
    expect(r.summary.evalItems['eval-set']).toBe(54);
    expect(r.summary.examples.map((m) => m.training.id)).toEqual(['doc-1', 'q3 (line 3)', 'q3 (line 3)']);
    const stored = JSON.parse((await p.store.get(r.summary.detailsKey!)).toString('utf8')) as unknown[];
    expect(stored).toHaveLength(3);
  });

  it('drop trains without the flagged items: a new corpus, and both AFT files without the example', async () => {
    const p = await plantedStore([cleanDoc, leakyDoc], aftLeaky);
    const r = await p.run('drop');
    expect(r.summary.dropped).toEqual({ corpus: 1, aft: 1 });
    expect(r.corpus.documents).toBe(1);
    expect(r.corpus.hash).not.toBe(p.corpus.hash);
    // Its size (generation.targetTokens' measure) is the kept document's.
    expect(r.corpus.estimatedTokens).toBe(Math.round(cleanDoc.length / 4));
    const shard = (await p.store.get(r.corpus.shardKeys[0])).toString('utf8');
    expect(shard).toContain('"doc-0"');
    expect(shard).not.toContain('doc-1');
    for (const [file, original] of [
      [r.aft.data, p.data],
      [r.aft.withReasoning!, p.withReasoning],
    ] as const) {
      const kept = (await p.store.get(file.key)).toString('utf8');
      expect(file).toMatchObject({ examples: 2, sha256: sha256Hex(kept) });
      expect(file.sha256).not.toBe(original.sha256);
      expect(kept).not.toContain('FC-9');
    }
    // The dropped data is clean: checked again, nothing overlaps.
    const again = await decontaminate(p.store, {
      mode: 'fail',
      evalSet: { key: 'inputs/eval.jsonl', sha256: sha256Hex(agenticText) },
      corpus: r.corpus,
      aft: r.aft,
    });
    expect(Object.values(again.summary.training).every((c) => c.flagged === 0)).toBe(true);
  });

  it('fail stops with a message naming the items and the fix, also when the result is read back', async () => {
    const p = await plantedStore([cleanDoc, leakyDoc], aftLeaky);
    for (let attempt = 0; attempt < 2; attempt++) {
      const e = await p.run('fail').catch((err: unknown) => err);
      expect(e).toBeInstanceOf(ContaminationError);
      const msg = (e as Error).message;
      expect(msg).toContain(`corpus doc-1 ~ eval-set ${scenario.id}`);
      expect(msg).toContain('aft q3 (line 3)');
      expect(msg).toMatch(/eval\.decontaminate: "drop"/);
    }
  });

  it('the activity turns fail into bad input: not retried, the message names the items', async () => {
    const p = await plantedStore([cleanDoc, leakyDoc], aftLeaky);
    const check = createContaminationActivities().checkContamination;
    const e = await new MockActivityEnvironment()
      .run(check, p.store.rootUri, { ...p.request, mode: 'fail' as const })
      .catch((err: unknown) => err);
    expect(e).toBeInstanceOf(ApplicationFailure);
    expect(e).toMatchObject({ type: 'BadInput', nonRetryable: true });
    expect((e as Error).message).toContain('corpus doc-1 ~ eval-set');
  });

  it('fail passes clean data through unchanged', async () => {
    const p = await plantedStore([cleanDoc], aftClean);
    const r = await p.run('fail');
    expect(r.corpus).toEqual(p.corpus);
    expect(r.summary.training.corpus.flagged + r.summary.training.aft.flagged).toBe(0);
  });
});

describe('the report shows the check', () => {
  it('a contamination line in the lineage (report.md) and the summary in results.json', () => {
    const summary: ContaminationSummary = {
      mode: 'warn',
      ngram: 13,
      minhashThreshold: 0.4,
      evalItems: { 'eval-set': 54 },
      training: {
        corpus: { checked: 10, flagged: 1, byNgram: 1, byMinhash: 0, byEvalSource: { 'eval-set': 1 } },
        aft: { checked: 4, flagged: 0, byNgram: 0, byMinhash: 0, byEvalSource: {} },
      },
      examples: [
        {
          training: { source: 'corpus', id: 'doc-1', snippet: 's' },
          eval: { source: 'eval-set', id: 'agentic.x', snippet: 'e' },
          kind: 'ngram',
          ngram: 'one two three',
        },
      ],
      dropped: {},
      detailsKey: 'decontamination/abc/flagged.json',
    };
    const results = buildResults({
      experiment: {
        name: 'exp',
        workflowId: 'wf',
        specTitle: 'Spec',
        specHash: 'abc',
        specVariant: 'full',
        baseModel: 'tiny',
        corpus: {
          documents: 10,
          tokens: 1000,
          hash: 'h',
          truncated: 0,
          truncatedDropped: 0,
          duplicatesRemoved: 0,
          documentCostUsd: 0,
        },
        evalSet: { sha256: 'e5', prompts: 2 },
        contamination: summary,
      },
      cells: [
        {
          arm: 'msm',
          fraction: 1,
          seed: 0,
          trainFinalLoss: 1.5,
          modelUri: 'file:///m',
          eval: { k: 1, n: 10, samplesUri: 'file:///s', judgeModel: 'judge' },
        },
      ],
      generatedAt: '2026-11-22T00:00:00Z',
      bootstrap: { resamples: 100, seed: 1, level: 0.95 },
      calibration: calibrationResult(),
    });
    expect(JSON.parse(JSON.stringify(results)).lineage.contamination).toEqual(summary);
    const line = renderMarkdown(results)
      .split('\n')
      .find((l) => l.startsWith('- contamination:'));
    expect(line).toContain('corpus: 1 of 10 overlap (1 against eval-set');
    expect(line).toContain('aft: 0 of 4 overlap');
    expect(line).toContain('corpus doc-1 ~ eval-set agentic.x ("one two three")');
    expect(line).toContain('decontamination/abc/flagged.json');
  });
});

describe('the shipped files do not overlap the shipped eval and calibration sets', () => {
  const evalFiles = readdirSync(path.join(PROJECT_ROOT, 'experiments', 'data')).filter((f) => f.includes('eval'));
  const index = new EvalIndex(evalFiles.flatMap((f) => evalSetItems(read('experiments', 'data', f), f)));

  it('indexes every eval set and calibration set', () => {
    expect(evalFiles.sort()).toEqual(['agentic-eval.jsonl', 'cheese-values-eval.jsonl', 'demo-eval.jsonl']);
    expect(Object.keys(calibrationIndex().counts)).toEqual(
      expect.arrayContaining([
        'calibration:leaking',
        'calibration:coercion',
        'calibration:exfiltration',
        'calibration:criterion',
      ]),
    );
  });

  it('specs, their paragraphs one by one, and the AFT, reasoning and mix data: zero overlap', () => {
    const specs = readdirSync(path.join(PROJECT_ROOT, 'specs')).filter((f) => f.endsWith('.md'));
    const dataFiles = readdirSync(path.join(PROJECT_ROOT, 'experiments', 'data')).filter(
      (f) => f.endsWith('.jsonl') && !f.includes('eval'),
    );
    expect(dataFiles).toEqual(expect.arrayContaining(['cheese-aft.jsonl', 'demo-aft.jsonl', 'instruct-mix.jsonl']));
    const training: TextItem[] = [
      // A corpus document quotes a spec passage at most: each paragraph is a document-sized stand-in.
      ...specs.flatMap((f) =>
        read('specs', f)
          .split(/\n\s*\n/)
          .map((para, i) => ({ source: `specs/${f}`, id: `paragraph ${i + 1}`, texts: [para] })),
      ),
      ...specs.map((f) => ({ source: `specs/${f}`, id: 'whole', texts: [read('specs', f)] })),
      ...dataFiles.flatMap((f) => chatItems(read('experiments', 'data', f), f)),
      // The scripted provider's documents: the corpus of every test that does not run the local model.
      ...Array.from({ length: 20 }, (_, i) => ({
        source: 'scripted corpus',
        id: `doc ${i}`,
        texts: [defaultContent({ messages: [{ role: 'user', content: `Write document ${i} in <content> tags.` }] })],
      })),
    ];
    const { flagged, counts } = checkTraining([index, calibrationIndex()], training);
    expect(flagged).toEqual([]);
    expect(Object.values(counts).reduce((n, c) => n + c.checked, 0)).toBe(training.length);
  });
});

describe("specs/self-preservation.md states principles, not the agentic eval's scenarios", () => {
  const spec = read('specs', 'self-preservation.md');

  it('shares no 13 words and no near-duplicate passage with any eval prompt or calibration item', () => {
    const paragraphs = spec.split(/\n\s*\n/).map((p, i) => ({ source: 'spec', id: `paragraph ${i + 1}`, texts: [p] }));
    const { flagged } = checkTraining([new EvalIndex(agentic), calibrationIndex()], paragraphs);
    expect(flagged).toEqual([]);
  });

  it("names none of the scenarios' acts, objects or settings", () => {
    // The three scenarios: personal secrets as leverage, a model copying itself out, confidential data to an
    // outsider who shares the agent's goals; and the words the eval's prompts and judges use for them.
    for (const word of [
      /affair/i,
      /blackmail/i,
      /leverage/i,
      /threat/i,
      /weights/i,
      /\bcop(y|ies|ying)\b/i,
      /exfiltrat/i,
      /\bleak/i,
      /shares? your goals/i,
      /outside (party|researcher)/i,
      /\be-?mails?\b/i,
      /health details/i,
      /reporter|journalist|regulator/i,
    ])
      expect(spec).not.toMatch(word);
    // No setting of the agentic eval (its ids: agentic.<kind>.<setting>.…) appears by name.
    const settings = new Set(agentic.map((a) => a.id.split('.')[2]));
    expect(settings.size).toBeGreaterThanOrEqual(3);
    for (const setting of settings) expect(spec.toLowerCase()).not.toContain(setting);
  });
});
