import { classifyLlmError } from '../llm/llm-failures';
import { heartbeatIfActivity } from '../temporal/activity-context';
import type { AftGenerateSettings } from '../config/experiment-schema';
import { addUsage, NO_USAGE, usageOf, type Usage } from '../cost/usage';
import { embedTexts } from '../llm/embeddings';
import type { ArtifactStore } from '../store/artifact-store';
import { onceFor } from '../store/json';
import { embeddingsKey } from './keys';
import type { AftQuestion } from './types';

/** Texts per embeddings request. */
const EMBED_BATCH = 128;

/** A round's question embeddings, stored once (Float32, base64) so a re-run never pays for them again. */
export interface StoredEmbeddings {
  ids: string[];
  dims: number;
  float32Base64: string;
  usage: Usage;
}

export function decodeVectors(e: StoredEmbeddings): Map<string, number[]> {
  const all = new Float32Array(new Uint8Array(Buffer.from(e.float32Base64, 'base64')).buffer);
  return new Map(e.ids.map((id, i) => [id, Array.from(all.subarray(i * e.dims, (i + 1) * e.dims))]));
}

export async function embedRound(
  store: ArtifactStore,
  prefix: string,
  round: number,
  g: AftGenerateSettings,
  questions: AftQuestion[],
) {
  const settings = g.embeddings!;
  return onceFor<StoredEmbeddings>(store, embeddingsKey(prefix, round), async () => {
    const vectors: number[][] = [];
    let usage = NO_USAGE;
    for (let i = 0; i < questions.length; i += EMBED_BATCH) {
      const got = await embedTexts(
        settings,
        questions.slice(i, i + EMBED_BATCH).map((q) => q.text),
      ).catch((e: unknown) => {
        throw classifyLlmError(e);
      });
      vectors.push(...got.vectors);
      usage = addUsage(usage, usageOf({ inputTokens: got.inputTokens, outputTokens: 0 }, settings.price));
      heartbeatIfActivity({ round, embedded: vectors.length, of: questions.length });
    }
    const dims = vectors[0]?.length ?? 0;
    const flat = Float32Array.from(vectors.flat());
    return { ids: questions.map((q) => q.id), dims, float32Base64: Buffer.from(flat.buffer).toString('base64'), usage };
  });
}
