import { addUsage, NO_USAGE, usageOf, type Price, type Usage } from '../cost/usage';
import type { BatchClient, BatchItemResult } from '../llm/batch/batch-client';
import { LlmError, type CompletionRequest, type CompletionResult } from '../llm/provider';
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

/** A poll that fails this many times in a row fails the activity (its retry resumes the same batch). */
const MAX_POLL_ERRORS = 10;

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
  const { store } = deps;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const out: DocumentBatchOutcome = {
    generated: 0,
    truncated: 0,
    llmCalls: 0,
    usage: NO_USAGE,
    batches: 0,
    itemRetries: 0,
  };
  /** Names the range's newest batch record: the one to resume when it is not done. */
  const latestKey = `${deps.recordPrefix}/latest.json`;
  const byId = new Map(items.map((i) => [i.id, i]));
  const missing = async () => {
    const left: PlannedDocument[] = [];
    for (const i of items) if (!(await store.exists(i.key))) left.push(i);
    return left;
  };

  /** Poll to the end (heartbeating the batch id and status), then write what succeeded. */
  const finish = async (key: string, rec: BatchRecord) => {
    let errors = 0;
    for (;;) {
      let status: string;
      try {
        const s = await deps.client.poll(rec.batchId);
        errors = 0;
        status = s.status;
        if (s.ended) break;
      } catch (e) {
        // A lost poll is no reason to give up on a paid batch: poll again, and past a limit let Temporal
        // retry the activity, which resumes this same batch from its record.
        if (!(e instanceof LlmError && e.retryable) || ++errors >= MAX_POLL_ERRORS) throw e;
        status = `poll failed (${errors}): ${e.message}`;
      }
      // Heartbeat at least every 5 s while waiting: a poll interval may be longer than the heartbeat timeout.
      for (let waited = 0; waited < deps.pollMs; waited += 5000) {
        deps.heartbeat({ batchId: rec.batchId, status, round: rec.round });
        await sleep(Math.min(5000, deps.pollMs - waited));
      }
    }
    const results = new Map<string, BatchItemResult>(
      (await deps.client.results(rec.batchId)).map((r) => [r.customId, r]),
    );
    const lastRound = rec.round >= MAX_ROUNDS - 1;
    out.llmCalls += rec.ids.length;
    for (const id of rec.ids) {
      const item = byId.get(id);
      if (!item || (await store.exists(item.key))) continue;
      const r = results.get(id);
      if (!r?.ok) continue; // errored, expired or missing: the next round sends it again
      const usage = usageOf(r.result.usage, deps.price, { batch: true });
      out.usage = addUsage(out.usage, usage);
      const doc = deps.toDocument(item, r.result, usage);
      if (doc.truncated && !lastRound) continue; // paid, but regenerated rather than kept cut off
      await writeJson(store, item.key, doc);
      out.generated++;
      if (doc.truncated) out.truncated++;
    }
    await writeJson(store, key, { ...rec, done: true });
    deps.heartbeat({ batchId: rec.batchId, status: 'written', round: rec.round });
  };

  const latest = async () => {
    if (!(await store.exists(latestKey))) return undefined;
    const { key } = await readJson<{ key: string }>(store, latestKey);
    return { key, rec: await readJson<BatchRecord>(store, key) };
  };

  for (let step = 0; step <= MAX_ROUNDS; step++) {
    // A batch submitted by an earlier attempt whose results are not all written: resume it first.
    const last = await latest();
    if (last && !last.rec.done) {
      await finish(last.key, last.rec);
      continue;
    }
    const pending = await missing();
    if (!pending.length) break;
    const ids = pending.map((p) => p.id).sort();
    // Items left over from the last batch are its next round; anything else (a top-up) starts at round 0.
    const round = last && ids.every((id) => last.rec.ids.includes(id)) ? last.rec.round + 1 : 0;
    if (round >= MAX_ROUNDS) break;
    const key = `${deps.recordPrefix}/${contentId({ ids, round })}.json`;
    // Already there: a crash came between writing the record and the pointer to it.
    let rec = (await store.exists(key)) ? await readJson<BatchRecord>(store, key) : undefined;
    if (!rec) {
      const batchId = await deps.client.submit(pending.map((p) => ({ customId: p.id, request: p.request })));
      rec = { batchId, ids, round, submittedAt: new Date().toISOString(), done: false };
      // Written before the first poll: from here on a crash of anything resumes this batch.
      await writeJson(store, key, rec);
      await writeJson(store, latestKey, { key });
      out.batches++;
      if (round > 0) out.itemRetries += ids.length;
      deps.heartbeat({ batchId, status: 'submitted', round, items: ids.length });
    } else {
      await writeJson(store, latestKey, { key });
    }
    if (!rec.done) await finish(key, rec);
  }

  // What no batch round delivered is written by single calls (Temporal retries these as usual).
  for (const item of await missing()) {
    const res = await deps.completeOne(item.request);
    out.llmCalls++;
    const usage = usageOf(res.usage, deps.price);
    out.usage = addUsage(out.usage, usage);
    const doc = deps.toDocument(item, res, usage);
    await writeJson(store, item.key, doc);
    out.generated++;
    if (doc.truncated) out.truncated++;
    deps.heartbeat({ single: item.id });
  }
  return out;
}

/** The batch records of a range live beside the documents, keyed by the corpus and the unit range. */
export const batchRecordPrefix = (corpusPrefix: string, range: { from: number; to: number }) =>
  `${corpusPrefix}/batches/u${String(range.from).padStart(4, '0')}-u${String(range.to).padStart(4, '0')}`;
