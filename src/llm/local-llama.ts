import { existsSync } from 'node:fs';
import path from 'node:path';
import type {
  ChatHistoryItem,
  Llama,
  LlamaChatSession,
  LlamaContextSequence,
  LlamaGrammar,
  LlamaModel,
  Token,
} from 'node-llama-cpp' with { 'resolution-mode': 'import' };
import {
  LlmError,
  type ChatMessage,
  type CompletionRequest,
  type CompletionResult,
  type LlmProvider,
} from './provider';
import { requestSeed } from './seed';

export interface LocalLlamaOptions {
  modelPath: string;
  contextSize?: number;
  /** CPU threads; default: the machine's math cores (more threads than cores slows llama.cpp ~100x). */
  threads?: number;
}

// node-llama-cpp is ESM-only: load it once, lazily, from this CommonJS module.
let llamaOnce: Promise<Llama> | undefined;

/** One loaded model per file; `turn` chains its requests, since parallel contexts would oversubscribe the cores. */
interface LoadedModel {
  model: Promise<LlamaModel>;
  refs: number;
  turn: Promise<unknown>;
}
const models = new Map<string, LoadedModel>();

function getLlamaOnce(): Promise<Llama> {
  // gpu: false and build: 'never' — use the prebuilt CPU binary; never download or compile.
  llamaOnce ??= import('node-llama-cpp').then((m) => m.getLlama({ gpu: false, build: 'never' }));
  return llamaOnce;
}

/** The loaded model is shared by every provider on the same file in this process. */
function acquireModel(llama: Llama, modelPath: string): LoadedModel {
  let entry = models.get(modelPath);
  if (!entry) {
    const model = llama.loadModel({ modelPath });
    entry = { model, refs: 0, turn: Promise.resolve() };
    models.set(modelPath, entry);
    model.catch(() => models.delete(modelPath));
  }
  entry.refs++;
  return entry;
}

/** Model files loaded in this process (one load per file, however many providers use it). */
export function loadedLocalModels(): string[] {
  return [...models.keys()];
}

async function releaseModel(modelPath: string, entry: LoadedModel): Promise<void> {
  if (--entry.refs > 0) return;
  if (models.get(modelPath) === entry) models.delete(modelPath);
  await (await entry.model).dispose();
}

/**
 * A provider running a GGUF model in-process on the CPU. Requests on a model are serialized (the
 * machine has few cores); each starts from a fresh chat history. Samples are seeded from the item's key
 * (src/llm/seed.ts) and depend on the request alone, never on the request before it: the prompt's prefix
 * up to the end of the system message (the spec) is always evaluated on its own from an empty cache, and
 * reused from the KV cache only when the previous request primed exactly the same prefix (~30x faster on a
 * long spec). Reusing whatever prefix two prompts happened to share, as before, batched the rest of the
 * prompt differently depending on which request came first, which shifts logits: with concurrent
 * activities that order varies, and so did the corpus.
 */
export async function createLocalLlamaProvider(opts: LocalLlamaOptions): Promise<LlmProvider> {
  const modelPath = path.resolve(opts.modelPath);
  if (!existsSync(modelPath)) {
    throw new LlmError(
      `local model file not found: ${modelPath} (set provider.model to a GGUF file, or unset it for the default model)`,
      false,
    );
  }
  const llama = await getLlamaOnce();
  const { LlamaChatSession: Session } = await import('node-llama-cpp');
  const loaded = acquireModel(llama, modelPath);
  let model: LlamaModel;
  try {
    model = await loaded.model;
  } catch (e) {
    loaded.refs--;
    throw new LlmError(`could not load local model ${modelPath}: ${(e as Error).message}`, false);
  }
  const context = await model
    // A full KV cache for sliding-window layers (Gemma 3), so a primed prefix survives a longer request.
    .createContext({
      contextSize: opts.contextSize ?? 4096,
      threads: opts.threads ?? llama.cpuMathCores,
      swaFullCache: true,
    })
    .catch(async (e: Error) => {
      await releaseModel(modelPath, loaded);
      throw new LlmError(
        `could not create a context for ${modelPath}: ${e.message} (lower provider.contextSize)`,
        false,
      );
    });
  const sequence = context.getSequence();
  return new LocalLlamaProvider(llama, modelPath, loaded, model, context, new Session({ contextSequence: sequence }));
}

type LlamaContext = Awaited<ReturnType<LlamaModel['createContext']>>;

/** One context and chat session on a shared loaded model; its requests take turns with every other one. */
class LocalLlamaProvider implements LlmProvider {
  readonly name: string;
  private readonly modelName: string;
  private readonly primer: ReturnType<typeof prefixPrimer>;
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();
  private closed = false;

  constructor(
    private readonly llama: Llama,
    private readonly modelPath: string,
    private readonly loaded: LoadedModel,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly session: LlamaChatSession,
  ) {
    this.modelName = path.basename(modelPath, '.gguf');
    this.name = `local:${this.modelName}`;
    this.primer = prefixPrimer(session.sequence);
  }

  complete(req: CompletionRequest): Promise<CompletionResult> {
    if (this.closed) return Promise.reject(new LlmError('local provider is closed', false));
    const run = this.loaded.turn.then(() => this.generate(req));
    this.loaded.turn = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.loaded.turn;
    this.session.dispose();
    await this.context.dispose();
    await releaseModel(this.modelPath, this.loaded);
  }

  private grammarFor(schema: Record<string, unknown>): Promise<LlamaGrammar> {
    const key = JSON.stringify(schema);
    let g = this.grammars.get(key);
    if (!g) {
      // A run-time schema: the typings only accept a literal (const-inferred) schema type.
      g = this.llama.createGrammarForJsonSchema(schema as never).catch((e: Error) => {
        this.grammars.delete(key);
        throw new LlmError(`jsonSchema is not supported by the local grammar: ${e.message}`, false);
      });
      this.grammars.set(key, g);
    }
    return g;
  }

  private async generate(req: CompletionRequest): Promise<CompletionResult> {
    const { session, model, context } = this;
    const { history, prompt } = toChatHistory(req.messages);
    const tokens = promptTokens(session, model, history, prompt);
    const inputTokens = tokens.length;
    const room = context.contextSize - inputTokens;
    if (room < 1) {
      throw new LlmError(
        `prompt has ${inputTokens} tokens but the local context holds ${context.contextSize}: raise provider.contextSize`,
        false,
      );
    }
    const grammar = req.jsonSchema ? await this.grammarFor(req.jsonSchema) : undefined;
    session.setChatHistory(history);
    let outputTokens = 0;
    try {
      await this.primer.prime(systemPrefix(tokens, promptTokens(session, model, history, '')));
      // Capping at the room left keeps llama.cpp from shifting the prompt out of the context.
      const res = await session.promptWithMeta(prompt, {
        maxTokens: Math.min(req.maxTokens, room),
        temperature: req.temperature,
        seed: requestSeed(req),
        grammar,
        onToken: (t) => (outputTokens += t.length),
      });
      return {
        text: res.responseText,
        finishReason:
          res.stopReason === 'maxTokens' ? 'length' : /Trigger$|eogToken/.test(res.stopReason) ? 'stop' : 'other',
        usage: { inputTokens, outputTokens },
        model: this.modelName,
      };
    } catch (e) {
      throw new LlmError(`local generation failed: ${(e as Error).message}`, true);
    }
  }
}

/** System messages, earlier turns, and the final user message as the prompt. */
function toChatHistory(messages: ChatMessage[]): { history: ChatHistoryItem[]; prompt: string } {
  const last = messages.at(-1);
  if (!last || last.role !== 'user') throw new LlmError('the last message of a request must be from the user', false);
  const history = messages
    .slice(0, -1)
    .map((m): ChatHistoryItem =>
      m.role === 'assistant' ? { type: 'model', response: [m.content] } : { type: m.role, text: m.content },
    );
  return { history, prompt: last.content };
}

/** Tokens of the whole rendered prompt (not just the part missing from the KV cache). */
function promptTokens(
  session: LlamaChatSession,
  model: LlamaModel,
  history: ChatHistoryItem[],
  prompt: string,
): Token[] {
  const chatHistory: ChatHistoryItem[] = [...history, { type: 'user', text: prompt }, { type: 'model', response: [] }];
  return session.chatWrapper.generateContextState({ chatHistory }).contextText.tokenize(model.tokenizer);
}

/**
 * The prompt's tokens before its user text: what it shares with the same history and an empty user
 * message. At least one token is left for the chat to evaluate.
 */
function systemPrefix(tokens: Token[], withEmptyUserText: Token[]): Token[] {
  return tokens.slice(0, Math.min(commonPrefix(tokens, withEmptyUserText), tokens.length - 1));
}

/** Length of the common start of two token lists. */
function commonPrefix(a: Token[], b: Token[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/**
 * Puts a sequence in the state "this prefix, evaluated alone from an empty cache" before each request,
 * so what the model computes for the rest of the prompt never depends on an earlier request. The cache is
 * kept when the previous request primed the same prefix (the rest of it is erased), else rebuilt.
 */
function prefixPrimer(sequence: LlamaContextSequence) {
  let primed: Token[] = [];
  const holds = (prefix: Token[]) =>
    primed.length === prefix.length &&
    commonPrefix(primed, prefix) === prefix.length &&
    commonPrefix(sequence.contextTokens, prefix) === prefix.length;
  return {
    async prime(prefix: Token[]): Promise<void> {
      if (holds(prefix)) {
        if (sequence.nextTokenIndex > prefix.length)
          await sequence.eraseContextTokenRanges([{ start: prefix.length, end: sequence.nextTokenIndex }]);
        return;
      }
      primed = [];
      await sequence.clearHistory();
      if (prefix.length) await sequence.evaluateWithoutGeneratingNewTokens(prefix);
      primed = prefix;
    },
  };
}
