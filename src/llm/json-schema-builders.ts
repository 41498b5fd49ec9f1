/** Small builders for the JSON Schemas that bound structured LLM outputs (grammar or response_format). */
export type JsonSchema = Record<string, unknown>;

/** Length bounds keep a small model under a grammar from emitting "" or degenerate runs ("e", "e", ...). */
export const text = (minLength: number, maxLength: number): JsonSchema => ({ type: 'string', minLength, maxLength });

export const obj = (properties: Record<string, JsonSchema>): JsonSchema => ({
  type: 'object',
  properties,
  required: Object.keys(properties),
  additionalProperties: false,
});

export const list = (items: JsonSchema, minItems: number, maxItems: number): JsonSchema => ({
  type: 'array',
  items,
  minItems,
  maxItems,
});
