/**
 * Stable JSON (object keys sorted at every level), so equal values always serialise (and hash) the same.
 * Free of Node built-ins on purpose: workflow code (src/sweep/grid.ts) uses it too.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, (v as Record<string, unknown>)[k]]),
        )
      : v,
  );
}
