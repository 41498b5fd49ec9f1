import type { Experiment } from '../config/experiment-schema';
import type { ArtifactStore } from '../store/artifact-store';
import { docPosition } from './keys';
import type { CorpusSelection } from './types';

export const idOfKey = (key: string) => key.slice(key.lastIndexOf('/') + 1).replace(/\.json$/, '');

/** Document keys of a corpus in position order (unit, type, idea), which key order matches only below 100 types or ideas. */
export async function docKeysOf(store: ArtifactStore, prefix: string): Promise<string[]> {
  const keys = (await store.list(`${prefix}/docs/`)).filter((k) => k.endsWith('.json'));
  // Ranked once per key, not per comparison: a corpus has tens of thousands of documents.
  const ranks = new Map(
    keys.map((k) => {
      const p = docPosition(idOfKey(k));
      return [k, p ? [p.u, p.t, p.i] : [Infinity, 0, 0]];
    }),
  );
  return keys.sort((a, b) => {
    const x = ranks.get(a)!;
    const y = ranks.get(b)!;
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2] || (a < b ? -1 : a > b ? 1 : 0);
  });
}

/** Does document `id` lie within the selection (all documents when there is none)? */
export function selected(id: string, sel: CorpusSelection | undefined): boolean {
  if (!sel) return true;
  const p = docPosition(id);
  return !!p && p.u < sel.units && p.t < sel.typesPerUnit && p.i < sel.ideasPerType;
}

export const selectionOf = (units: number, g: Experiment['generation']): CorpusSelection => ({
  units,
  typesPerUnit: g.typesPerUnit,
  ideasPerType: g.ideasPerType,
});
