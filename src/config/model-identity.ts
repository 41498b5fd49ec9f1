import { z } from 'zod';

/**
 * Who the trained model is: its name and developer. The corpus and AFT prompts speak of the model by them
 * (as the paper's reference pipeline writes them into its documents), so midtraining teaches the model who
 * it is along with its spec. Pure: prompts, keys and the schema share it.
 */
export const modelIdentitySchema = z
  .object({
    name: z.string().trim().min(1).max(80).describe('what the documents call the model, e.g. Aria'),
    developer: z.string().trim().min(1).max(120).describe('who made it, e.g. Northwind Labs'),
  })
  .strict();
export type ModelIdentity = z.output<typeof modelIdentitySchema>;

/** "<name>, developed by <developer>": how every prompt introduces the model. */
export const identityPhrase = (id: ModelIdentity) => `${id.name}, developed by ${id.developer}`;
