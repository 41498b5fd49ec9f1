import { describeIssues, experimentSchema, type ExperimentInput } from '../config/experiment-schema';
import { canonicalJson as canonical } from '../util/canonical-json';
import type { SweepInput, SweepPoint } from './sweep-schema';

/** A sweep that cannot run as written; the message lists every problem (bad input, never retried). */
export class InvalidSweepError extends Error {
  override name = 'InvalidSweepError';
}

/** A value as a short id part: "rules+values" → "rules-values", 0.5 → "0.5"; objects by a short hash. */
function slug(v: unknown): string {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
    const s = String(v)
      .toLowerCase()
      .replace(/[^a-z0-9.]+/g, '-')
      .replace(/^-+|-+$/g, '');
    if (s && s.length <= 24) return s;
  }
  return `h${fnv1a(canonical(v))}`;
}

/** 32-bit FNV-1a as 8 hex digits: deterministic and dependency-free, for ids only (not integrity). */
function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

const matches = (values: Record<string, unknown>, pattern: Record<string, unknown>) =>
  Object.entries(pattern).every(([k, v]) => canonical(values[k]) === canonical(v));

/** Every combination of the axes (first axis slowest), minus excluded points, plus included ones. */
export function gridPoints(sweep: Pick<SweepInput, 'axes' | 'include' | 'exclude'>): SweepPoint[] {
  const axes = Object.entries(sweep.axes);
  let combos: Array<Record<string, unknown>> = [{}];
  for (const [path, values] of axes) combos = combos.flatMap((c) => values.map((v) => ({ ...c, [path]: v })));
  combos = combos.filter((c) => !(sweep.exclude ?? []).some((e) => matches(c, e)));
  for (const extra of sweep.include ?? [])
    if (!combos.some((c) => canonical(c) === canonical(extra))) combos.push(extra);
  const points = combos.map((values) => ({ id: Object.values(values).map(slug).join('_') || 'base', values }));
  const seen = new Map<string, number>();
  for (const p of points) {
    const n = seen.get(p.id) ?? 0;
    seen.set(p.id, n + 1);
    if (n > 0) p.id = `${p.id}_${fnv1a(canonical(p.values))}`; // two points that slug alike
  }
  return points;
}

/** The base experiment with the point's values set at their paths, named after the sweep and the point. */
export function pointExperiment(base: ExperimentInput, sweepName: string, point: SweepPoint): ExperimentInput {
  const x = JSON.parse(JSON.stringify(base)) as Record<string, unknown>;
  for (const [p, v] of Object.entries(point.values)) {
    const keys = p.split('.');
    let at = x;
    for (const k of keys.slice(0, -1)) {
      if (at[k] === undefined) at[k] = {};
      if (typeof at[k] !== 'object' || at[k] === null || Array.isArray(at[k]))
        throw new InvalidSweepError(`axis ${p}: ${k} is not an object in the base experiment`);
      at = at[k] as Record<string, unknown>;
    }
    at[keys.at(-1)!] = JSON.parse(JSON.stringify(v)) as unknown;
  }
  x.name = `${sweepName}-${point.id}`;
  return x as ExperimentInput;
}

/** Every point's experiment, each checked by the experiment schema; all problems at once. */
export function expandSweep(sweep: SweepInput): Array<SweepPoint & { experiment: ExperimentInput }> {
  const problems: string[] = [];
  const out = gridPoints(sweep).map((p) => {
    const experiment = pointExperiment(sweep.base, sweep.name, p);
    const r = experimentSchema.safeParse(experiment);
    if (!r.success) problems.push(...describeIssues(r.error).map((m) => `point ${p.id}: ${m}`));
    return { ...p, experiment };
  });
  for (const id of sweep.only ?? [])
    if (!out.some((p) => p.id === id))
      problems.push(`no point ${id} in this sweep (points: ${out.map((p) => p.id).join(', ')})`);
  if (problems.length) throw new InvalidSweepError(`invalid sweep ${sweep.name}:\n  - ${problems.join('\n  - ')}`);
  return out;
}
