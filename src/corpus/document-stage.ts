import { Context } from '@temporalio/activity';
import { documentPrompt, promptVersionOf } from './prompts';
import { batchRecordPrefix, writeDocumentsInBatches, type PlannedDocument } from './document-batch';
import { NO_USAGE, type Usage } from '../cost/usage';
import { createBatchClient } from '../llm/batch/create-batch-client';
import { stripScratchpad } from '../llm/json-output';
import type { CompletionResult } from '../llm/provider';
import { openStore } from '../store/open-store';
import { docId, docKey, ideasKey, typesKey } from './keys';
import { storedItems, unitInContext, type Unit } from './stages';
import { promptSha256 } from './stage-list';
import { classifyLlmError } from '../llm/llm-failures';
import { complete, priceOf, providerId } from '../llm/call';
import { heartbeatIfActivity } from '../temporal/activity-context';
import { requestSeed } from '../llm/seed';
import type { CorpusDocument, CorpusJob, CorpusRef, DocumentBatchResult, UnitRange } from './types';

/** What is stored for one document: the content without the scratchpad, truncation flagged. */
export function documentRecord(
  job: CorpusJob,
  item: {
    id: string;
    unit: Unit;
    type: string;
    idea: string;
    promptVersion: string;
    promptSha256?: string;
    seed?: number;
  },
  res: CompletionResult,
  cost: Usage,
): CorpusDocument {
  const content = stripScratchpad(res.text);
  return {
    id: item.id,
    text: content.text.trim(),
    truncated: content.truncated || res.finishReason === 'length',
    ...item.unit,
    type: item.type,
    idea: item.idea,
    specHash: job.specHash,
    promptVersion: item.promptVersion,
    promptSha256: item.promptSha256,
    ...(item.seed !== undefined && { seed: item.seed }),
    generator: providerId(job.generation.provider),
    usage: { ...res.usage, costUsd: cost.costUsd },
  };
}

/**
 * The document stage of a range through the provider's batch API (generation.batch): the range's missing
 * documents go out as one batch, resumed from its stored id after any crash (src/corpus/document-batch.ts).
 */
export async function generateDocumentsInBatch(
  job: CorpusJob,
  ref: CorpusRef,
  range: UnitRange,
  ctx: { spec: string; units: Unit[] },
): Promise<DocumentBatchResult> {
  const store = openStore(ref.storeUri);
  const g = job.generation;
  const items: (PlannedDocument & {
    unit: Unit;
    type: string;
    idea: string;
    promptVersion: string;
    promptSha256: string;
  })[] = [];
  let reused = 0;
  for (let u = range.from; u < range.to; u++) {
    const types = await storedItems<string>(store, typesKey(ref.prefix, u), g.typesPerUnit);
    const unit = await unitInContext(store, ref.prefix, ctx.units, u);
    for (let t = 0; t < types.length; t++) {
      const ideas = await storedItems<string>(store, ideasKey(ref.prefix, u, t), g.ideasPerType);
      for (let i = 0; i < ideas.length; i++) {
        const id = docId(u, t, i);
        const key = docKey(ref.prefix, id);
        if (await store.exists(key)) {
          reused++;
          continue;
        }
        const p = documentPrompt(ctx.spec, unit, types[t], ideas[i], {
          maxTokens: g.maxDocTokens,
          identity: job.identity,
        });
        items.push({
          id,
          key,
          unit: ctx.units[u],
          type: types[t],
          idea: ideas[i],
          promptVersion: promptVersionOf(ctx.spec),
          promptSha256: promptSha256(p),
          request: { ...p, temperature: g.temperature, requestId: key },
        });
      }
    }
  }
  if (!items.length) return { generated: 0, reused, truncated: 0, llmCalls: 0, usage: NO_USAGE };
  let client;
  try {
    client = createBatchClient(g.provider);
  } catch (e) {
    throw classifyLlmError(e);
  }
  const byId = new Map(items.map((i) => [i.id, i]));
  try {
    const res = await writeDocumentsInBatches(items, {
      store,
      client,
      price: priceOf(g.provider),
      recordPrefix: batchRecordPrefix(ref.prefix, range),
      pollMs: g.batchPollSeconds * 1000,
      toDocument: (item, result, usage) =>
        documentRecord(job, { ...byId.get(item.id)!, seed: requestSeed(item.request) }, result, usage),
      completeOne: (req) => complete(g.provider, req),
      heartbeat: heartbeatIfActivity,
      sleep: activitySleep,
    });
    return {
      generated: res.generated,
      reused,
      truncated: res.truncated,
      llmCalls: res.llmCalls,
      usage: res.usage,
      batches: res.batches,
      batchItemRetries: res.itemRetries,
    };
  } catch (e) {
    throw classifyLlmError(e);
  }
}

/** Sleep that ends early with a CancelledFailure when the activity is cancelled (a corpus cancelled mid-batch). */
function activitySleep(ms: number): Promise<void> {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return new Promise((r) => setTimeout(r, ms));
  }
  return ctx.sleep(ms);
}
