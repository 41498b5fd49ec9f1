import { addUsage, NO_USAGE, usageOf, type Price, type Usage } from '../cost/usage';
import { pollBatchUntilEnded, type BatchClient, type BatchItemResult } from '../llm/batch/batch-client';
import type { CompletionRequest, CompletionResult } from '../llm/provider';
import type { ArtifactStore } from '../store/artifact-store';
import { readJson, writeJson } from '../store/json';
import { contentId } from '../util/hash';

/**
 * The document stage of one range through a provider's batch API. The missing documents go out as ONE
 * batch whose id is written to the artifact store (at a key derived from the corpus, the range and the
 * set of missing ids) before the first poll, so a retried activity, after a killed worker or a lost
 * poll, resumes polling that batch instead of paying for a second one. Items that fail (errored,
 * expired, truncated) go into a follow-up batch; after MAX_ROUNDS what is still missing is written by
 * single calls, and a document still truncated then is kept flagged, as in the single-call path.
 */
export const MAX_ROUNDS = 3;

export interface PlannedDocument {
  /** Deterministic document id: the batch item's custom_id. */
  id: string;
  /** Where the document is stored. */
  key: string;
  request: CompletionRequest;
}

export interface DocumentBatchDeps<D extends { truncated: boolean }> {
  store: ArtifactStore;
  client: BatchClient;
  price: Price | undefined;
  /** Folder of this range's batch records: corpus prefix + range. */
  recordPrefix: string;
  pollMs: number;
  toDocument(item: PlannedDocument, res: CompletionResult, usage: Usage): D;
  /** One call outside the batch API (rate-limited, classified errors): the last resort for an item. */
  completeOne(req: CompletionRequest): Promise<CompletionResult>;
  heartbeat(details: unknown): void;
  sleep?: (ms: number) => Promise<void>;
}

export interface DocumentBatchOutcome {
  generated: number;
  truncated: number;
  /** Batch items and single calls made by this attempt (a batch item counts as one call). */
  llmCalls: number;
  usage: Usage;
  batches: number;
  /** Items that failed in a batch and were sent again. */
  itemRetries: number;
}

interface BatchRecord {
  batchId: string;
  ids: string[];
  round: number;
  submittedAt: string;
  /** Every result is written (or left for the next round): nothing more to read from this batch. */
  done: boolean;
}

export async function writeDocumentsInBatches<D extends { truncated: boolean }>(
  items: PlannedDocument[],
  deps: DocumentBatchDeps<D>,
): Promise<DocumentBatchOutcome> {
  const run = new RangeBatches(items, deps);
  for (let step = 0; step <= MAX_ROUNDS; step++) {
    // A batch submitted by an earlier attempt whose results are not all written: resume it first.
    const last = await run.latest();
    if (last && !last.rec.done) {
      await run.finish(last.key, last.rec);
      continue;
    }
    const pending = await run.missing();
    if (!pending.length) break;
    const ids = pending.map((p) => p.id).sort();
    // Items left over from the last batch are its next round; anything else (a top-up) starts at round 0.
    const round = last && ids.every((id) => last.rec.ids.includes(id)) ? last.rec.round + 1 : 0;
    if (round >= MAX_ROUNDS) break;
    const { key, rec } = await run.submitOnce(pending, ids, round);
    if (!rec.done) await run.finish(key, rec);
  }
  await run.singleCalls();
  return run.out;
}

/** One range's batches: its records in the store, the batches' polls and results, and the tally. */
class RangeBatches<D extends { truncated: boolean }> {
  readonly out: DocumentBatchOutcome = {
    generated: 0,
    truncated: 0,
    llmCalls: 0,
    usage: NO_USAGE,
    batches: 0,
    itemRetries: 0,
  };
  private readonly store: ArtifactStore;
  private readonly byId: Map<string, PlannedDocument>;
  /** Names the range's newest batch record: the one to resume when it is not done. */
  private readonly latestKey: string;

  constructor(
    private readonly items: PlannedDocument[],
    private readonly deps: DocumentBatchDeps<D>,
  ) {
    this.store = deps.store;
    this.byId = new Map(items.map((i) => [i.id, i]));
    this.latestKey = `${deps.recordPrefix}/latest.json`;
  }

  async missing(): Promise<PlannedDocument[]> {
    const left: PlannedDocument[] = [];
    for (const i of this.items) if (!(await this.store.exists(i.key))) left.push(i);
    return left;
  }

  async latest(): Promise<{ key: string; rec: BatchRecord } | undefined> {
    if (!(await this.store.exists(this.latestKey))) return undefined;
    const { key } = await readJson<{ key: string }>(this.store, this.latestKey);
    return { key, rec: await readJson<BatchRecord>(this.store, key) };
  }

  /** Submit the pending items as one batch, unless its record exists (a crash came between writing the
   * record and the pointer to it). The record is written before the first poll: from then on a crash of
   * anything resumes this batch. */
  async submitOnce(pending: PlannedDocument[], ids: string[], round: number) {
    const key = `${this.deps.recordPrefix}/${contentId({ ids, round })}.json`;
    if (await this.store.exists(key)) {
      await writeJson(this.store, this.latestKey, { key });
      return { key, rec: await readJson<BatchRecord>(this.store, key) };
    }
    const batchId = await this.deps.client.submit(pending.map((p) => ({ customId: p.id, request: p.request })));
    const rec: BatchRecord = { batchId, ids, round, submittedAt: new Date().toISOString(), done: false };
    await writeJson(this.store, key, rec);
    await writeJson(this.store, this.latestKey, { key });
    this.out.batches++;
    if (round > 0) this.out.itemRetries += ids.length;
    this.deps.heartbeat({ batchId, status: 'submitted', round, items: ids.length });
    return { key, rec };
  }

  /** Poll to the end (heartbeating the batch id and status), then write what succeeded. */
  async finish(key: string, rec: BatchRecord): Promise<void> {
    await pollBatchUntilEnded(this.deps.client, rec.batchId, {
      pollMs: this.deps.pollMs,
      sleep: this.deps.sleep,
      heartbeat: (status) => this.deps.heartbeat({ batchId: rec.batchId, status, round: rec.round }),
    });
    const results = new Map<string, BatchItemResult>(
      (await this.deps.client.results(rec.batchId)).map((r) => [r.customId, r]),
    );
    const lastRound = rec.round >= MAX_ROUNDS - 1;
    this.out.llmCalls += rec.ids.length;
    for (const id of rec.ids) {
      const item = this.byId.get(id);
      if (!item || (await this.store.exists(item.key))) continue;
      const r = results.get(id);
      if (!r?.ok) continue; // errored, expired or missing: the next round sends it again
      const usage = usageOf(r.result.usage, this.deps.price, { batch: true });
      this.out.usage = addUsage(this.out.usage, usage);
      const doc = this.deps.toDocument(item, r.result, usage);
      if (doc.truncated && !lastRound) continue; // paid, but regenerated rather than kept cut off
      await this.write(item, doc);
    }
    await writeJson(this.store, key, { ...rec, done: true });
    this.deps.heartbeat({ batchId: rec.batchId, status: 'written', round: rec.round });
  }

  /** What no batch round delivered is written by single calls (Temporal retries these as usual). */
  async singleCalls(): Promise<void> {
    for (const item of await this.missing()) {
      const res = await this.deps.completeOne(item.request);
      this.out.llmCalls++;
      const usage = usageOf(res.usage, this.deps.price);
      this.out.usage = addUsage(this.out.usage, usage);
      await this.write(item, this.deps.toDocument(item, res, usage));
      this.deps.heartbeat({ single: item.id });
    }
  }

  private async write(item: PlannedDocument, doc: D): Promise<void> {
    await writeJson(this.store, item.key, doc);
    this.out.generated++;
    if (doc.truncated) this.out.truncated++;
  }
}

/** The batch records of a range live beside the documents, keyed by the corpus and the unit range. */
export const batchRecordPrefix = (corpusPrefix: string, range: { from: number; to: number }) =>
  `${corpusPrefix}/batches/u${String(range.from).padStart(4, '0')}-u${String(range.to).padStart(4, '0')}`;
