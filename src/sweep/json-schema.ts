import { z } from 'zod';
import { sweepFileSchema } from './sweep-schema';

/** The JSON Schema editors use for sweep files (experiments/sweep.schema.json). */
export function sweepJsonSchema(): string {
  return JSON.stringify(z.toJSONSchema(sweepFileSchema, { io: 'input' }), null, 2) + '\n';
}
