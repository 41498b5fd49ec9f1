import { addUsage, NO_USAGE, usageOf, type Price, type Usage } from '../cost/usage';
import { pollBatchUntilEnded, type BatchClient, type BatchItemResult } from '../llm/batch/batch-client';
import { LlmError, type CompletionRequest } from '../llm/provider';
import type { ArtifactStore } from '../store/artifact-store';
import { readJson, writeJson } from '../store/json';
import { contentId, sha256Hex } from '../util/hash';
import { unjudgedReasonOf, verdictFromAnswer, type JudgeAsk, type JudgeCall, type Verdict } from './judge-sample';

/**
 * Batch judging (eval.judge.batch): a cell's missing judgments go to the provider as ONE batch. Its id is
 * written to the store (at a key derived from the set of missing samples) before the first poll, so a
 * retried activity, after a killed worker or a lost poll, resumes polling that batch instead of paying
 * for a second one. Each answer becomes the same stored verdict as a single call's, at the same key. What
 * the batch did not deliver (an errored or expired item, a refusal, an unreadable answer) is left to
 * single calls, which go on from the attempts the batch made (`JudgeCall.earlier`).
 */
export interface BatchJudgeItem {
  /** The verdict's store key (as in the single-call path). */
  key: string;
  ask: JudgeAsk;
}

/** What the batch made of an item it did not judge: the single-call path continues from here. */
export type Earlier = NonNullable<JudgeCall['earlier']>;

export interface JudgeBatchDeps {
  store: ArtifactStore;
  client: BatchClient;
  price: Price | undefined;
  /** Folder of the cell's batch records (beside its verdicts). */
  recordPrefix: string;
  pollMs: number;
  /** Stores the verdict of an item (as a Judgment, at item.key) and counts it. */
  write(item: BatchJudgeItem, verdict: Verdict): Promise<void>;
  /** How many of these requests (in order) may go out within eval.budgetUsd; reserves their worst cost. */
  allow(requests: CompletionRequest[]): { count: number; settle(actual: Usage): void };
  /** Spend of a batch submitted by an earlier attempt (never reserved by this one). */
  spentUnreserved(usd: number): void;
  heartbeat(details: unknown): void;
  sleep?: (ms: number) => Promise<void>;
}

interface JudgeBatchRecord {
  batchId: string;
  /** The custom ids of the batch's items. */
  ids: string[];
  submittedAt: string;
  /** Every result is read: what succeeded is stored, the rest is in `leftovers` or was never answered. */
  done: boolean;
  /** Items that got an answer that was no verdict: the attempt it used and what it cost. */
  leftovers?: Record<string, Earlier>;
}

/** Provider custom ids allow [a-zA-Z0-9_-]{1,64}: a digest of the verdict's key. */
export const customIdOf = (key: string) => `j-${sha256Hex(key).slice(0, 40)}`;

/**
 * Judge the items through one batch: resume an unfinished one, else submit the items not yet stored (as
 * many as the budget allows). Returns what the batch left for single calls, by store key.
 */
export async function judgeInBatch(
  items: BatchJudgeItem[],
  deps: JudgeBatchDeps,
): Promise<{ earlier: Map<string, Earlier>; batches: number }> {
  const store = deps.store;
  const latestKey = `${deps.recordPrefix}/latest.json`;
  const byId = new Map(items.map((i) => [customIdOf(i.key), i]));
  const missing = async () => {
    const left: BatchJudgeItem[] = [];
    for (const i of items) if (!(await store.exists(i.key))) left.push(i);
    return left;
  };
  let batches = 0;
  let last = (await store.exists(latestKey))
    ? await (async () => {
        const { key } = await readJson<{ key: string }>(store, latestKey);
        return { key, rec: await readJson<JudgeBatchRecord>(store, key) };
      })()
    : undefined;
  // A batch submitted by an earlier attempt and not all read: resume it (it is paid for already).
  if (last && !last.rec.done) {
    last.rec = await finish(last.key, last.rec, deps, byId, (usd) => deps.spentUnreserved(usd));
  }
  const pending = await missing();
  // Anything the last batch did not cover (a first batch, or new samples) goes out in a new one; what the
  // last batch answered without a verdict goes to single calls rather than a batch of its own.
  if (pending.length && !(last && pending.every((i) => last!.rec.ids.includes(customIdOf(i.key))))) {
    const allowed = deps.allow(pending.map((i) => i.ask.request));
    const sent = pending.slice(0, allowed.count);
    if (sent.length) {
      const ids = sent.map((i) => customIdOf(i.key)).sort();
      const key = `${deps.recordPrefix}/${contentId({ ids })}.json`;
      let rec: JudgeBatchRecord;
      if (await store.exists(key)) {
        // A crash came between writing the record and the pointer to it.
        rec = await readJson<JudgeBatchRecord>(store, key);
      } else {
        const batchId = await deps.client.submit(
          sent.map((i) => ({ customId: customIdOf(i.key), request: i.ask.request })),
        );
        rec = { batchId, ids, submittedAt: new Date().toISOString(), done: false };
        await writeJson(store, key, rec);
        batches++;
        deps.heartbeat({ batchId, status: 'submitted', items: ids.length });
      }
      await writeJson(store, latestKey, { key });
      let spent = 0;
      if (!rec.done) rec = await finish(key, rec, deps, byId, (usd) => (spent += usd));
      allowed.settle({ ...NO_USAGE, costUsd: spent });
      last = { key, rec };
    } else allowed.settle(NO_USAGE);
  }
  const earlier = new Map<string, Earlier>();
  for (const [id, e] of Object.entries(last?.rec.leftovers ?? {})) {
    const item = byId.get(id);
    if (item) earlier.set(item.key, e);
  }
  return { earlier, batches };
}

/** Poll to the end (heartbeating the batch id and status), then store every verdict the batch gave. */
async function finish(
  key: string,
  rec: JudgeBatchRecord,
  deps: JudgeBatchDeps,
  byId: Map<string, BatchJudgeItem>,
  spent: (usd: number) => void,
): Promise<JudgeBatchRecord> {
  await pollBatchUntilEnded(deps.client, rec.batchId, {
    pollMs: deps.pollMs,
    sleep: deps.sleep,
    heartbeat: (status) => deps.heartbeat({ batchId: rec.batchId, status }),
  });
  const results = new Map<string, BatchItemResult>(
    (await deps.client.results(rec.batchId)).map((r) => [r.customId, r]),
  );
  const leftovers: Record<string, Earlier> = {};
  for (const id of rec.ids) {
    const item = byId.get(id);
    if (!item || (await deps.store.exists(item.key))) continue;
    const r = results.get(id);
    // Errored, expired or missing: not billed, and not an attempt; the single-call path judges it afresh.
    if (!r?.ok) continue;
    const usage = usageOf(r.result.usage, deps.price, { batch: true });
    spent(usage.costUsd);
    const v = verdictFromAnswer(item.ask, r.result);
    if (v instanceof LlmError) {
      leftovers[id] = { made: 1, usage: addUsage(NO_USAGE, usage), reason: unjudgedReasonOf(v) };
      continue;
    }
    await deps.write(item, { ...v, usage });
  }
  const done: JudgeBatchRecord = { ...rec, done: true, leftovers };
  await writeJson(deps.store, key, done);
  deps.heartbeat({ batchId: rec.batchId, status: 'written' });
  return done;
}
