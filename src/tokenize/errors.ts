/** The input data is wrong (malformed JSONL, no assistant turn, ...): retrying cannot help, a person must fix it. */
export class TokenizeInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenizeInputError';
  }
}

/** A conversation the chat template cannot render or mask; index is its position in the batch. */
export class ChatRenderError extends TokenizeInputError {
  constructor(
    readonly index: number,
    readonly reason: string,
  ) {
    super(`conversation ${index}: ${reason}`);
    this.name = 'ChatRenderError';
  }
}
