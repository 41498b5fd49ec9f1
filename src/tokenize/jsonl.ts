import { TokenizeInputError } from './errors';

/** Parse JSONL text into records with their 1-based line numbers; blank lines are skipped. */
export function parseJsonlRecords(text: string, where: string): { line: number; value: unknown }[] {
  const out: { line: number; value: unknown }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const s = lines[i].trim();
    if (!s) continue;
    try {
      out.push({ line: i + 1, value: JSON.parse(s) });
    } catch (e) {
      throw new TokenizeInputError(`${where}:${i + 1}: invalid JSON (${(e as Error).message})`);
    }
  }
  return out;
}
