/** The limit's window: providers count per minute; 10 s keeps a bench short with the same behaviour. */
export const WINDOW_S = 10;

/**
 * A scripted server's fault script that enforces a rate limit: requests beyond `rps` × WINDOW_S in any
 * window (as the server sees arrivals) get a 429 and are counted as violations.
 */
export function enforce(rps: number) {
  const windowMs = WINDOW_S * 1000;
  const arrivals: number[] = [];
  const stats = { violations: 0 };
  const fault = () => {
    const now = Date.now();
    while (arrivals.length && arrivals[0] <= now - windowMs) arrivals.shift();
    arrivals.push(now);
    if (arrivals.length <= rps * WINDOW_S) return null;
    stats.violations++;
    return { type: 'http' as const, status: 429, headers: { 'retry-after-ms': String(windowMs) } };
  };
  return { fault, stats };
}
