/**
 * The stable name of an eval line's condition, e.g. "kind=leaking/goal=explicit/urgency=replacement".
 * Pure. Grid factors come first in a fixed order so keys read alike across suites; other factors follow
 * alphabetically, so the key never depends on the order a file happens to write them in.
 *
 * `setting` is left out: it is the surface variant (which company) inside a condition and the factor a
 * suite's split holds out, so samples from every setting of a condition pool into that condition.
 */
const FIRST = ['kind', 'scenario', 'goal', 'urgency', 'domain', 'format'];
const POOLED = new Set(['setting']);

export function conditionKey(condition: Readonly<Record<string, string>>): string {
  const rank = (k: string) => (FIRST.includes(k) ? FIRST.indexOf(k) : FIRST.length);
  return Object.keys(condition)
    .filter((k) => !POOLED.has(k))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
    .map((k) => `${k}=${condition[k]}`)
    .join('/');
}
