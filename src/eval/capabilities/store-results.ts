import type { ArtifactStore } from '../../store/artifact-store';
import { taskOf } from './manifest';
import { capabilityScores, parseCapabilityLines } from './results';
import type { CapabilityRequest, CapabilityScore } from './types';

/** Each check's score from a finished capabilities job's results.jsonl, its log beside it. */
export async function storedCapabilityScores(
  store: ArtifactStore,
  key: string,
  checks: CapabilityRequest['checks'],
): Promise<CapabilityScore[]> {
  const out = `${key}/capabilities`;
  const lines = parseCapabilityLines(
    (await store.get(`${out}/results.jsonl`)).toString('utf8'),
    store.uri(`${out}/results.jsonl`),
  );
  return capabilityScores(
    checks.map((c) => ({ name: c.name, kind: c.kind, task: taskOf(c) })),
    lines,
    (name) => store.uri(`${out}/logs/${name}.eval`),
  );
}
