import { z } from 'zod';
import { experimentSchema } from './experiment-schema';

/** The JSON Schema editors use for experiment files (experiments/experiment.schema.json). */
export function experimentJsonSchema(): string {
  return JSON.stringify(z.toJSONSchema(experimentSchema, { io: 'input' }), null, 2) + '\n';
}
