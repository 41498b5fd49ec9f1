import { sha256Hex } from './sha256';
import type { ModelSpec } from './types';

/** JSON with object keys sorted at every level, so equal values always serialise (and hash) the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]))
      : v,
  );
}

/** Content hash (sha256 hex) of a parsed spec or spec variant; pure, so workflows may call it. */
export function specHash(spec: ModelSpec): string {
  return sha256Hex(canonicalJson(spec));
}
