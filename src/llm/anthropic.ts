import Anthropic, { APIConnectionError, APIConnectionTimeoutError, APIError } from '@anthropic-ai/sdk';
import type { Message, MessageCreateParamsNonStreaming } from '@anthropic-ai/sdk/resources/messages';
import { retryAfterMs, serverMessage } from './openai-compatible';
import { LlmContentError, LlmError, type CompletionRequest, type CompletionResult, type LlmProvider } from './provider';

export interface AnthropicOptions {
  model: string;
  apiKey: string;
  /** API root without /v1; default https://api.anthropic.com */
  baseUrl?: string;
  timeoutMs?: number;
}

/** The tool a JSON-constrained request must call: its input is the answer, shaped by the schema. */
const OUTPUT_TOOL = 'output';

/** An SDK client that makes one attempt per call: Temporal does the retrying, with classified errors. */
export function anthropicClient(opts: AnthropicOptions): Anthropic {
  return new Anthropic({
    apiKey: opts.apiKey,
    baseURL: opts.baseUrl,
    timeout: opts.timeoutMs ?? 120_000,
    maxRetries: 0,
  });
}

/**
 * A provider for the Anthropic Messages API. The system prompt (which holds the spec in every corpus
 * stage) is marked for prompt caching, so the spec is paid in full once and then read at a tenth of the
 * price; JSON-constrained stages force a tool call whose input schema is the stage's JSON Schema.
 */
export function createAnthropicProvider(opts: AnthropicOptions): LlmProvider {
  const client = anthropicClient(opts);
  const where = `Anthropic ${opts.baseUrl ?? 'api'} model ${opts.model}`;
  return {
    name: `anthropic:${opts.model}`,
    async complete(req: CompletionRequest): Promise<CompletionResult> {
      let msg: Message;
      try {
        msg = await client.messages.create(anthropicParams(opts.model, req));
      } catch (e) {
        throw anthropicError(e, where);
      }
      return parseAnthropicMessage(msg, opts.model);
    },
  };
}

/**
 * The Messages API request for one completion (also the `params` of a batch item). No temperature: the
 * current API takes no sampling parameters (the model samples at its own default).
 */
export function anthropicParams(model: string, req: CompletionRequest): MessageCreateParamsNonStreaming {
  const systemText = req.messages.filter((m) => m.role === 'system').map((m) => m.content);
  const params: MessageCreateParamsNonStreaming = {
    model,
    max_tokens: req.maxTokens,
    messages: req.messages
      .filter((m) => m.role !== 'system')
      .map((m) => ({ role: m.role as 'user' | 'assistant', content: m.content })),
  };
  if (systemText.length) {
    // One cache breakpoint at the end of the system prompt: everything up to it (the spec) is the cached prefix.
    params.system = [{ type: 'text', text: systemText.join('\n\n'), cache_control: { type: 'ephemeral' } }];
  }
  if (req.jsonSchema) {
    params.tools = [
      {
        name: OUTPUT_TOOL,
        description: 'Record the answer. Its input is the whole answer, shaped by the schema.',
        input_schema: req.jsonSchema as { type: 'object'; [k: string]: unknown },
      },
    ];
    params.tool_choice = { type: 'tool', name: OUTPUT_TOOL };
  }
  return params;
}

/** Text (or the forced tool call's input as JSON), finish reason and usage with cache writes and reads. */
export function parseAnthropicMessage(msg: Message, model: string): CompletionResult {
  if (!msg || !Array.isArray(msg.content)) throw new LlmError('malformed response: message has no content list', true);
  const tool = msg.content.find((b) => b.type === 'tool_use');
  const text = tool ? JSON.stringify(tool.input) : msg.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
  const stop = msg.stop_reason;
  // The model declined (its safety classifiers stopped it): an answer to record, not a fault to retry blindly.
  if (stop === 'refusal') {
    const said = tool ? '' : text.trim();
    throw new LlmContentError('refusal', said ? `stop_reason refusal: ${said}` : 'stop_reason refusal');
  }
  const u = msg.usage;
  return {
    text,
    finishReason:
      stop === 'max_tokens'
        ? 'length'
        : stop === 'end_turn' || stop === 'stop_sequence' || stop === 'tool_use' || stop == null
          ? 'stop'
          : 'other',
    usage: {
      inputTokens: u?.input_tokens ?? 0,
      outputTokens: u?.output_tokens ?? 0,
      cacheWriteTokens: u?.cache_creation_input_tokens ?? 0,
      cacheReadTokens: u?.cache_read_input_tokens ?? 0,
    },
    model: typeof msg.model === 'string' ? msg.model : model,
  };
}

const FIX: Record<number, string> = {
  400: 'bad request: check provider.model, maxTokens and the request parameters',
  401: 'unauthorized: check the API key env var (provider.apiKeyEnv, default ANTHROPIC_API_KEY)',
  403: 'forbidden: the API key has no access to this model',
  404: 'not found: check provider.model and provider.baseUrl (the API root, without /v1)',
  413: 'request too large: lower maxDocTokens or shorten the spec',
};

/** Classify an SDK error: what retries at once, what holds the key, what a person must fix. */
export function anthropicError(e: unknown, where: string): LlmError {
  if (e instanceof LlmError) return e;
  if (e instanceof APIConnectionTimeoutError) return new LlmError(`request to ${where} timed out`, true);
  if (e instanceof APIConnectionError)
    return new LlmError(
      `network error calling ${where}: ${(e.cause as Error | undefined)?.message ?? e.message}`,
      true,
    );
  if (!(e instanceof APIError) || e.status === undefined)
    return new LlmError(`calling ${where}: ${(e as Error)?.message ?? String(e)}`, true);
  const status = e.status;
  const body = JSON.stringify(e.error ?? {});
  const detail = serverMessage(body);
  const wait = e.headers ? retryAfterMs(e.headers) : undefined;
  // Out of credit or over the spend limit (Anthropic answers 400 "credit balance is too low"; gateways 402).
  if (status === 402 || /credit balance|usage limit|spend limit|billing|quota/i.test(body)) {
    return new LlmError(`usage limit reached (HTTP ${status}) on ${where}${detail}`, true, status, wait, true);
  }
  if (
    status === 429 ||
    status === 529 ||
    status === 408 ||
    status === 409 ||
    status >= 500 ||
    /overloaded/i.test(body)
  ) {
    const what =
      status === 429 ? 'rate limited' : status === 529 || /overloaded/i.test(body) ? 'overloaded' : 'server error';
    return new LlmError(`${what} (HTTP ${status}) from ${where}${detail}`, true, status, wait);
  }
  return new LlmError(`${FIX[status] ?? 'request rejected'} (HTTP ${status} from ${where})${detail}`, false, status);
}
