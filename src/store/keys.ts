/** Keys are '/'-separated relative paths; anything that could escape the root is rejected. */
export function checkKey(key: string): string {
  if (
    !key ||
    key.startsWith('/') ||
    key.split('/').some((p) => p === '..' || p === '.' || p === '') ||
    key.includes('\\')
  ) {
    throw new Error(
      `invalid artifact key "${key}": use a relative path like "corpus/abc/manifest.json" (no "..", no leading "/", no empty parts)`,
    );
  }
  return key;
}

/** A prefix may be empty (the whole store) or end with "/". */
export function checkPrefix(prefix: string): string {
  if (prefix === '') return prefix;
  checkKey(prefix.replace(/\/$/, ''));
  return prefix;
}
