import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import type { z } from 'zod';

export class SuiteDataError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'SuiteDataError';
  }
}

/** A suite's YAML data file, validated: every problem is reported as `file: path: message`. */
export function readDataFile<T>(file: string, schema: z.ZodType<T>): T {
  let raw: unknown;
  try {
    raw = YAML.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new SuiteDataError([`${file}: ${(e as Error).message}`]);
  }
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  throw new SuiteDataError(
    r.error.issues.map((i) => `${file}: ${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`),
  );
}
