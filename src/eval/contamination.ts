import { NearDuplicateIndex, signature } from '../util/minhash';

/**
 * Training data against evaluation data: does any corpus document or AFT example contain an eval prompt
 * (or a judge-calibration item) word for word, or nearly duplicate one? Two tests, each cheap per item:
 *
 * - word n-grams (13 words, the usual decontamination unit): a training text that shares one n-gram with an
 *   eval text is flagged. Catches an eval passage pasted into a longer document. Eval texts shorter than n
 *   words (but at least MIN_SHORT_WORDS) are matched as a whole word sequence.
 * - MinHash (src/util/minhash.ts, word 5-shingles): a training text whose estimated Jaccard similarity with
 *   an eval text reaches the threshold is flagged. Catches a lightly edited copy of similar length.
 *
 * Neither catches a paraphrase: the same situation told in other words shares no n-gram and few shingles.
 * Pure and deterministic: the same inputs always flag the same items.
 */

export const NGRAM = 13;
export const MINHASH_THRESHOLD = 0.4;
/** Texts with fewer words than this are not matched at all (too short to mean a leak). */
export const MIN_SHORT_WORDS = 8;
/** Examples kept per training source in a summary. */
export const EXAMPLES_PER_SOURCE = 5;
const SNIPPET = 160;

export const DECONTAMINATE_MODES = ['drop', 'warn', 'fail'] as const;
export type DecontaminateMode = (typeof DECONTAMINATE_MODES)[number];

/** One item with its texts: an eval line (one text per message), a corpus document, an AFT example. */
export interface TextItem {
  /** Where it comes from, e.g. "eval-set", "calibration:leaking", "corpus", "aft". */
  source: string;
  id: string;
  texts: string[];
  /** A JSONL file's line number (1-based), where the item is one. */
  line?: number;
}

export interface ContaminationMatch {
  /** `line`: the item's line in its JSONL file (AFT examples). */
  training: { source: string; id: string; snippet: string; line?: number };
  eval: { source: string; id: string; snippet: string };
  /** ngram: a shared word sequence (the words, lower-cased); minhash: estimated Jaccard similarity. */
  kind: 'ngram' | 'minhash';
  ngram?: string;
  similarity?: number;
}

/** Per training source: items checked and flagged, flagged items by the eval source they matched first. */
export interface SourceCounts {
  checked: number;
  flagged: number;
  byNgram: number;
  byMinhash: number;
  byEvalSource: Record<string, number>;
}

/** What crosses Temporal and lands in results.json: counts and a few examples, never the whole data. */
export interface ContaminationSummary {
  mode: DecontaminateMode;
  ngram: number;
  minhashThreshold: number;
  /** Eval items indexed, per eval source. */
  evalItems: Record<string, number>;
  training: Record<string, SourceCounts>;
  examples: ContaminationMatch[];
  /** drop: training items removed, per source. */
  dropped: Record<string, number>;
  /** The stored full list of flagged items (store key), when written. */
  detailsKey?: string;
}

/** Lower-cased letter/digit runs: punctuation, case and spacing do not hide a copy. */
export function words(text: string): string[] {
  return (
    text
      .normalize('NFKC')
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? []
  );
}

function fnv1a(text: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A 53-bit key of words[start, start + len) from per-word hashes: two independent 32-bit polynomial hashes,
 * one kept whole and 21 bits of the other, so a 40k-document corpus has no practical collision.
 */
function spanKey(hashes: Uint32Array, start: number, len: number): number {
  let a = 0x811c9dc5;
  let b = 0x9e3779b9;
  for (let i = start; i < start + len; i++) {
    a = Math.imul(a ^ hashes[i], 0x01000193) >>> 0;
    b = Math.imul((b + hashes[i]) >>> 0, 0x85ebca6b) ^ (b >>> 13);
  }
  return (a >>> 0) * 0x200000 + ((b >>> 0) & 0x1fffff);
}

/** MinHash over the same normalised words as the n-grams, so punctuation and case hide nothing here either. */
const signatureOf = (text: string) => signature(words(text).join(' '));

const wordHashes = (ws: string[]) => Uint32Array.from(ws, (w) => fnv1a(w, 0x811c9dc5));

const snippet = (text: string, around?: string): string => {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat.length <= SNIPPET) return flat;
  // Centre the snippet on the matched words, found as written (any punctuation or case between them).
  const pattern = around
    ?.split(' ')
    .slice(0, 4)
    .map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^\\p{L}\\p{N}]+');
  const at = pattern ? flat.search(new RegExp(pattern, 'iu')) : -1;
  const start = at > 0 ? Math.max(0, at - 20) : 0;
  return `${start > 0 ? '…' : ''}${flat.slice(start, start + SNIPPET)}…`;
};

/** A training text's words, their hashes and (once needed) its MinHash signature: computed once for every index. */
export interface PreparedText {
  text: string;
  words: string[];
  hashes: Uint32Array;
  signature?: Uint32Array;
}

export const prepare = (item: TextItem): PreparedText[] =>
  item.texts.map((text) => {
    const ws = words(text);
    return { text, words: ws, hashes: wordHashes(ws) };
  });

interface EvalText {
  item: TextItem;
  text: string;
}

/** The eval side, indexed once: n-gram keys (and whole short texts) and MinHash signatures. */
export class EvalIndex {
  private readonly ngrams = new Map<number, number>();
  /** Short eval texts, by their word count: key of the whole text -> eval text. */
  private readonly short = new Map<number, Map<number, number>>();
  private readonly minhash: NearDuplicateIndex;
  private readonly texts: EvalText[] = [];
  readonly counts: Record<string, number> = {};

  constructor(
    items: Iterable<TextItem>,
    readonly n = NGRAM,
    readonly threshold = MINHASH_THRESHOLD,
  ) {
    this.minhash = new NearDuplicateIndex(threshold);
    const seen = new Set<string>();
    for (const item of items) {
      this.counts[item.source] = (this.counts[item.source] ?? 0) + 1;
      for (const text of item.texts) {
        // Calibration replies share their scenario's prompt: index each distinct text once, under its first item.
        if (!text.trim() || seen.has(text)) continue;
        seen.add(text);
        const at = this.texts.push({ item, text }) - 1;
        const hs = wordHashes(words(text));
        if (hs.length >= n) {
          for (let i = 0; i + n <= hs.length; i++) {
            const k = spanKey(hs, i, n);
            if (!this.ngrams.has(k)) this.ngrams.set(k, at);
          }
        } else if (hs.length >= MIN_SHORT_WORDS) {
          let byKey = this.short.get(hs.length);
          if (!byKey) this.short.set(hs.length, (byKey = new Map()));
          byKey.set(spanKey(hs, 0, hs.length), at);
        }
        // Very short texts ("No.", a one-line answer) are near-duplicates of each other by chance.
        if (hs.length >= MIN_SHORT_WORDS) this.minhash.insert(String(at), signatureOf(text));
      }
    }
  }

  /** The first eval text this training text overlaps (n-grams first, then MinHash), or null. */
  match(training: TextItem, prepared: PreparedText[] = prepare(training)): ContaminationMatch | null {
    for (const p of prepared) {
      const found = this.ngramHit(p.hashes);
      if (found) {
        const ngram = p.words.slice(found.start, found.start + found.len).join(' ');
        return this.result(training, p.text, found.at, { kind: 'ngram', ngram });
      }
    }
    for (const p of prepared) {
      if (p.words.length < MIN_SHORT_WORDS) continue;
      const near = this.minhash.nearest((p.signature ??= signature(p.words.join(' '))));
      if (near) return this.result(training, p.text, Number(near.id), { kind: 'minhash', similarity: near.similarity });
    }
    return null;
  }

  private ngramHit(hs: Uint32Array): { at: number; start: number; len: number } | null {
    for (let i = 0; i + this.n <= hs.length; i++) {
      const at = this.ngrams.get(spanKey(hs, i, this.n));
      if (at !== undefined) return { at, start: i, len: this.n };
    }
    for (const [len, byKey] of this.short) {
      for (let i = 0; i + len <= hs.length; i++) {
        const at = byKey.get(spanKey(hs, i, len));
        if (at !== undefined) return { at, start: i, len };
      }
    }
    return null;
  }

  private result(
    training: TextItem,
    text: string,
    at: number,
    how: Pick<ContaminationMatch, 'kind' | 'ngram' | 'similarity'>,
  ): ContaminationMatch {
    const e = this.texts[at];
    return {
      training: {
        source: training.source,
        id: training.id,
        snippet: snippet(text, how.ngram),
        ...(training.line !== undefined && { line: training.line }),
      },
      eval: { source: e.item.source, id: e.item.id, snippet: snippet(e.text, how.ngram) },
      ...how,
    };
  }
}

/**
 * Training items checked as they come (a corpus shard at a time): the flagged ones, each with its first
 * match, and the summary's counts per training source.
 */
export class TrainingCheck {
  readonly flagged: ContaminationMatch[] = [];
  readonly counts: Record<string, SourceCounts> = {};
  private checked = 0;

  constructor(
    private readonly indexes: readonly EvalIndex[],
    private readonly onItem: (checked: number) => void = () => {},
  ) {}

  add(items: Iterable<TextItem>): void {
    for (const item of items) {
      const c = (this.counts[item.source] ??= { checked: 0, flagged: 0, byNgram: 0, byMinhash: 0, byEvalSource: {} });
      c.checked++;
      const prepared = prepare(item);
      let m: ContaminationMatch | null = null;
      for (const index of this.indexes) if ((m = index.match(item, prepared))) break;
      if (m) {
        c.flagged++;
        if (m.kind === 'ngram') c.byNgram++;
        else c.byMinhash++;
        c.byEvalSource[m.eval.source] = (c.byEvalSource[m.eval.source] ?? 0) + 1;
        this.flagged.push(m);
      }
      this.onItem(++this.checked);
    }
  }
}

/** Every training item checked at once (see TrainingCheck). */
export function checkTraining(
  indexes: EvalIndex | readonly EvalIndex[],
  items: Iterable<TextItem>,
  onItem?: (checked: number) => void,
): { flagged: ContaminationMatch[]; counts: Record<string, SourceCounts> } {
  const check = new TrainingCheck(Array.isArray(indexes) ? indexes : [indexes as EvalIndex], onItem);
  check.add(items);
  return { flagged: check.flagged, counts: check.counts };
}

/** A few examples per training source, different eval items first, in the order they were found. */
export function examplesOf(flagged: readonly ContaminationMatch[], perSource = EXAMPLES_PER_SOURCE) {
  const out: ContaminationMatch[] = [];
  for (const source of [...new Set(flagged.map((m) => m.training.source))]) {
    const ofSource = flagged.filter((m) => m.training.source === source);
    const seen = new Set<string>();
    const distinct = ofSource.filter((m) => !seen.has(m.eval.id) && seen.add(m.eval.id));
    out.push(...[...distinct, ...ofSource.filter((m) => !distinct.includes(m))].slice(0, perSource));
  }
  return out;
}

/** One line per training source, for logs, the report and error messages. */
export function describeContamination(s: Pick<ContaminationSummary, 'training' | 'dropped' | 'mode'>): string {
  const parts = Object.entries(s.training).map(([source, c]) => {
    const by = Object.entries(c.byEvalSource)
      .map(([e, k]) => `${k} against ${e}`)
      .join(', ');
    const dropped = s.dropped[source] ? `, ${s.dropped[source]} dropped` : '';
    return `${source}: ${c.flagged} of ${c.checked} overlap${c.flagged ? ` (${by}; ${c.byNgram} by n-gram, ${c.byMinhash} by MinHash)` : ''}${dropped}`;
  });
  return parts.join('; ');
}

/** The message of eval.decontaminate: fail, naming items and the fix. */
export function failMessage(flagged: readonly ContaminationMatch[], summary: ContaminationSummary): string {
  const named = flagged
    .slice(0, 5)
    .map(
      (m) =>
        `${m.training.source} ${m.training.id} ~ ${m.eval.source} ${m.eval.id} (${m.kind === 'ngram' ? `"${m.ngram}"` : `Jaccard ${m.similarity!.toFixed(2)}`})`,
    )
    .join('; ');
  return (
    `training data overlaps the evaluation data — ${describeContamination(summary)}. ` +
    `First items: ${named}${flagged.length > 5 ? `; and ${flagged.length - 5} more` : ''}. ` +
    'Fix: remove or rewrite these items (or the spec passages that led the generator to them), ' +
    'or set eval.decontaminate: "drop" to train without them, or "warn" to keep them and report the overlap'
  );
}

/** A chat line's texts: every message's content (eval lines, AFT examples, calibration prompts). */
const contents = (messages: unknown): string[] =>
  Array.isArray(messages)
    ? messages.flatMap((m) =>
        m && typeof (m as { content?: unknown }).content === 'string' ? [(m as { content: string }).content] : [],
      )
    : [];

const jsonLines = (text: string) =>
  text
    .split('\n')
    .map((l, i) => ({ l: l.trim(), i }))
    .filter(({ l }) => l)
    .map(({ l, i }) => ({ row: JSON.parse(l) as Record<string, unknown>, line: i + 1 }));

/** An eval set (JSONL of { id, messages }): one item per line, one text per message. */
export function evalSetItems(jsonl: string, source = 'eval-set'): TextItem[] {
  return jsonLines(jsonl).map(({ row, line }) => ({
    source,
    id: typeof row.id === 'string' ? row.id : `line ${line}`,
    texts: contents(row.messages),
  }));
}

/**
 * A judge-calibration set (src/eval/calibration/<kind>.jsonl): the scenario's messages and the reply.
 * Both are eval-side text: a reply in training data teaches the judge's answer key.
 */
export function calibrationItems(jsonl: string, kind: string): TextItem[] {
  return jsonLines(jsonl).map(({ row, line }) => {
    const l = (row.line ?? {}) as Record<string, unknown>;
    const reply = [row.response, row.reply].filter((t): t is string => typeof t === 'string');
    return {
      source: `calibration:${kind}`,
      id: typeof row.id === 'string' ? row.id : `line ${line}`,
      texts: [...contents(l.messages), ...reply],
    };
  });
}

/** A chat JSONL file of AFT examples: one item per line (its meta.id when it has one), every turn a text. */
export function chatItems(jsonl: string, source = 'aft'): TextItem[] {
  return jsonLines(jsonl).map(({ row, line }) => {
    const meta = (row.meta ?? {}) as { id?: unknown };
    const id = typeof meta.id === 'string' ? `${meta.id} (line ${line})` : `line ${line}`;
    return { source, id, line, texts: contents(row.messages) };
  });
}

/** The JSONL text without the given (1-based) line numbers; blank lines go too. */
export function withoutLines(jsonl: string, drop: ReadonlySet<number>): { text: string; kept: number } {
  const kept = jsonl.split('\n').filter((l, i) => l.trim() && !drop.has(i + 1));
  return { text: kept.length ? kept.join('\n') + '\n' : '', kept: kept.length };
}

/**
 * midtrain.seeds: another corpus draw's check folded into the experiment's summary. Its corpus is counted
 * apart, as source "corpus draw <n>"; its AFT figures are the first check's again and are not repeated.
 */
export function withCorpusDraw(
  summary: ContaminationSummary,
  other: ContaminationSummary,
  draw: number,
): ContaminationSummary {
  const source = `corpus draw ${draw}`;
  const corpus = other.training.corpus;
  const dropped = other.dropped.corpus;
  return {
    ...summary,
    training: { ...summary.training, ...(corpus && { [source]: corpus }) },
    dropped: { ...summary.dropped, ...(dropped !== undefined && { [source]: dropped }) },
    examples: [
      ...summary.examples,
      ...other.examples
        .filter((e) => e.training.source === 'corpus')
        .map((e) => ({ ...e, training: { ...e.training, source } })),
    ],
  };
}
