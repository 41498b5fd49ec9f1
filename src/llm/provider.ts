import type { TokenUsage } from '../cost/usage';

/** One chat completion request. Providers are stateless apart from their connection settings. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface CompletionRequest {
  messages: ChatMessage[];
  maxTokens: number;
  temperature: number;
  /** When set, the output must be JSON matching this JSON Schema (grammar-constrained where supported). */
  jsonSchema?: Record<string, unknown>;
  /** Deterministic id of the logical item (for logs, idempotency keys and scripted test servers). */
  requestId?: string;
  seed?: number;
}

export interface CompletionResult {
  text: string;
  /** 'length' means the token cap cut the output (truncation must be flagged, never silently kept). */
  finishReason: 'stop' | 'length' | 'other';
  /** Tokens as the provider reported them (Anthropic reports prompt-cache writes and reads apart). */
  usage: TokenUsage;
  model: string;
}

export interface LlmProvider {
  readonly name: string;
  complete(req: CompletionRequest): Promise<CompletionResult>;
  close?(): Promise<void>;
}

/**
 * Classified provider failure. `retryable` errors (429, 5xx, network, timeout) are retried with
 * backoff by Temporal, honouring retryAfterMs; the rest (401, 400, bad config) fail fast.
 */
export class LlmError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    readonly retryAfterMs?: number,
    /** The account is out of quota or credit: it clears by itself (or by a person), not by retrying at once. */
    readonly usageLimit = false,
  ) {
    super(message);
    this.name = 'LlmError';
  }
}

/**
 * The model answered, but not with a usable answer: it refused (`refusal`: OpenAI's `message.refusal` or a
 * `content_filter` finish, Anthropic's `stop_reason: "refusal"`) or its output could not be read as the
 * requested JSON (`malformed`). Not a transport fault: asking the identical question again at once tends to
 * get the same answer. It is retryable for callers that let Temporal retry (sampling again usually fixes a
 * malformed answer); the eval judge instead asks a bounded number of times and then records the sample as
 * unjudged (src/eval/judge-sample.ts).
 */
export class LlmContentError extends LlmError {
  constructor(
    readonly kind: 'refusal' | 'malformed',
    /** What the model answered or why it could not be read, without the message's prefix. */
    readonly detail: string,
    message = kind === 'refusal' ? `model refused: ${detail}` : `malformed JSON from model: ${detail}`,
  ) {
    super(message, true);
    this.name = 'LlmContentError';
  }
}
