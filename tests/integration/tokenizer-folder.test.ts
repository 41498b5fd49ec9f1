/**
 * A model folder's own tokenizer (baseModel.tokenizer: model or {path}), for a family msm has no preset for:
 * DeepSeek-V3 (tests/fixtures/tokenizers/deepseek-v3-small, a smaller vocabulary of its shipped tokenizer;
 * see make_deepseek_v3_small.py there). Our loading, encoding and chat rendering must equal Hugging Face's
 * on the same folder, token for token. It starts a Python process (transformers), hence this lane.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseExperiment } from '../../src/config/experiment-schema';
import { openStore } from '../../src/store/open-store';
import { TokenizeInputError } from '../../src/tokenize/errors';
import { checkTokenizerFitsModel, resolveTokenizer } from '../../src/tokenize/model-vocab';
import { tokenizePackCorpus } from '../../src/tokenize/pack-corpus';
import { tokenizeChatData } from '../../src/tokenize/tokenize-chat';
import { loadTokenizer, tokenizerFolderFiles, type ChatMessage } from '../../src/tokenize/tokenizer';
import { PROJECT_ROOT, pythonExecutable } from '../../src/util/project-paths';

const FIXTURE = path.join(PROJECT_ROOT, 'tests/fixtures/tokenizers/deepseek-v3-small');
const EOS = '<｜end▁of▁sentence｜>';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'msm-tok-folder-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The fixture as a model folder; `jinja` moves the chat template to chat_template.jinja (newer layout). */
function modelFolder(name: string, opts: { jinja?: boolean; noTemplate?: boolean; config?: object } = {}): string {
  const dir = path.join(tmp, name);
  cpSync(FIXTURE, dir, { recursive: true });
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  const cfg = JSON.parse(readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
  if (opts.jinja) writeFileSync(path.join(dir, 'chat_template.jinja'), cfg.chat_template as string);
  if (opts.jinja || opts.noTemplate) delete cfg.chat_template;
  writeFileSync(cfgFile, JSON.stringify(cfg));
  if (opts.config) writeFileSync(path.join(dir, 'config.json'), JSON.stringify(opts.config));
  return dir;
}

const TEXTS = [
  'Hello world! The assistant keeps its commitments, even when no one checks.',
  '  leading spaces,\ttabs\nand\n\nblank lines  ',
  'Numbers 1234567 and 3.14159, symbols #@$%^&*() and URLs https://example.org/a?b=c',
  '中文文本与日本語のテキスト、そして한국어.',
  'Emoji 🙂🚀 and accents: naïve café façade — “quotes”',
  `special text inline: ${EOS} and <｜User｜> are parsed as single ids`,
];

const CHATS: ChatMessage[][] = [
  [
    { role: 'system', content: 'You follow the spec.' },
    { role: 'user', content: 'May I read your weights?' },
    { role: 'assistant', content: 'No: copying them outside approved systems is not something I do.' },
  ],
  [
    { role: 'user', content: 'Two turns, no system prompt. 你好' },
    { role: 'assistant', content: 'First answer 🙂' },
    { role: 'user', content: 'And again?' },
    { role: 'assistant', content: 'Second answer,\nover two lines.' },
  ],
];

// PreTrainedTokenizerFast reads tokenizer.json as written. AutoTokenizer is not the reference here:
// transformers 5 maps tokenizer_class LlamaTokenizerFast (DeepSeek's) to a LlamaTokenizer that replaces the
// ByteLevel pre-tokenizer with Metaspace and drops spaces (huggingface/transformers#45488).
const PY_HF = `
import json, sys
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast
req = json.load(sys.stdin)
out = {}
for name, d in req["dirs"].items():
    t = PreTrainedTokenizerFast.from_pretrained(d, local_files_only=True)
    raw = Tokenizer.from_file(d + "/tokenizer.json")
    chats = []
    for conv in req["chats"]:
        text = t.apply_chat_template(conv, tokenize=False)
        ids = t.apply_chat_template(conv, tokenize=True)
        ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
        chats.append({"text": text, "ids": list(ids)})
    out[name] = {
        "texts": [t(s, add_special_tokens=False)["input_ids"] for s in req["texts"]],
        "raw": [raw.encode(s, add_special_tokens=False).ids for s in req["texts"]],
        "chats": chats,
        "vocab": len(t),
        "eos": t.convert_tokens_to_ids(t.eos_token),
        "bos": t.convert_tokens_to_ids(t.bos_token),
    }
print(json.dumps(out))`;

type HfOut = Record<
  string,
  {
    texts: number[][];
    raw: number[][];
    chats: { text: string; ids: number[] }[];
    vocab: number;
    eos: number;
    bos: number;
  }
>;

function python<T>(code: string, input: unknown): T {
  const py = pythonExecutable();
  if (py.startsWith('/') && !existsSync(py))
    throw new Error(`no Python at ${py}: run scripts/setup.sh or set MSM_PYTHON`);
  const r = spawnSync(py, ['-c', code], { input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${py} failed (needs transformers and tokenizers; set MSM_PYTHON): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

describe('a model folder tokenizer (DeepSeek-V3, no preset) against Hugging Face', () => {
  const dirs = { config: modelFolder('deepseek-config'), jinja: modelFolder('deepseek-jinja', { jinja: true }) };
  let hf: HfOut | undefined;
  const reference = () => (hf ??= python<HfOut>(PY_HF, { dirs, texts: TEXTS, chats: CHATS }));

  for (const layout of ['config', 'jinja'] as const) {
    it(`template in ${layout === 'config' ? 'tokenizer_config.json' : 'chat_template.jinja'}: ids, text and vocabulary equal transformers'`, async () => {
      const ref = reference()[layout];
      const tok = await loadTokenizer({ path: dirs[layout] });
      expect(tok.family).toBe(`model:deepseek-${layout}`);
      expect(ref.texts).toEqual(ref.raw); // the reference agrees with the tokenizers library itself
      expect(await tok.encodeBatch(TEXTS)).toEqual(ref.texts);
      expect(tok.vocabSize).toBe(ref.vocab);
      const rendered = await tok.renderChatBatch(CHATS);
      for (let i = 0; i < CHATS.length; i++) {
        expect(await tok.decode(rendered[i].ids)).toBe(ref.chats[i].text);
        expect(rendered[i].ids).toEqual(ref.chats[i].ids);
      }
      // Documents join on eos and start with bos (add_bos_token: true).
      expect(tok.eosId).toBe(ref.eos);
      expect(tok.docStartIds).toEqual([ref.bos]);
    });
  }

  it('trains on each assistant message and the end-of-turn token found in the template, nothing else', async () => {
    const tok = await loadTokenizer({ path: dirs.config });
    const [r] = await tok.renderChatBatch([CHATS[1]]);
    const trained: number[][] = [];
    r.lossMask.forEach((m, k) => {
      if (m === 1 && (k === 0 || r.lossMask[k - 1] === 0)) trained.push([]);
      if (m === 1) trained[trained.length - 1].push(r.ids[k]);
    });
    expect(await Promise.all(trained.map((ids) => tok.decode(ids)))).toEqual([
      `First answer 🙂${EOS}`,
      `Second answer,\nover two lines.${EOS}`,
    ]);
  });

  it('packs a corpus and AFT chats under the folder tokenizer, its label and hash in the manifest', async () => {
    const store = openStore(path.join(tmp, 'store'));
    await store.put('docs/0.jsonl', TEXTS.map((text, i) => JSON.stringify({ id: `d${i}`, text })).join('\n') + '\n');
    const spec = { path: dirs.jinja };
    const tok = await loadTokenizer(spec);
    const corpus = await tokenizePackCorpus(store, {
      docKeys: ['docs/0.jsonl'],
      family: spec,
      seqLen: 64,
      outPrefix: 'tokens/c',
      shuffleSeed: 0,
    });
    expect(corpus.numTokens).toBe(reference().jinja.texts.reduce((n, ids) => n + ids.length + 2, 0)); // + bos, eos
    const manifest = JSON.parse(
      (await store.get(corpus.manifestUri.slice(corpus.manifestUri.indexOf('tokens/c/')))).toString('utf8'),
    ) as {
      tokenizer: string;
      tokenizerSha256: string;
    };
    expect(manifest.tokenizer).toBe('model:deepseek-jinja');
    expect(manifest.tokenizerSha256).toBe(tok.sha256);
    await store.put('aft.jsonl', CHATS.map((messages) => JSON.stringify({ messages })).join('\n') + '\n');
    const aft = await tokenizeChatData(store, {
      dataKey: 'aft.jsonl',
      family: spec,
      seqLen: 96,
      outPrefix: 'tokens/a',
    });
    expect(aft.numSequences).toBe(2);
    // The stored config carries the template and the end-of-turn token for the trainer's generate job.
    const stored = JSON.parse(tok.configText) as Record<string, unknown>;
    expect(stored.msm_end_of_turn).toBe(EOS);
    expect(stored.chat_template).toBe(readFileSync(path.join(dirs.jinja, 'chat_template.jinja'), 'utf8'));
    // The hash is of the content, whichever file holds the template; a changed template is another
    // tokenizer, whose datasets never reuse these.
    expect((await loadTokenizer({ path: dirs.config })).sha256).toBe(tok.sha256);
    const edited = modelFolder('deepseek-edited', { jinja: true });
    writeFileSync(path.join(edited, 'chat_template.jinja'), `${stored.chat_template as string}\n`);
    expect((await loadTokenizer({ path: edited })).sha256).not.toBe(tok.sha256);
  });
});

describe('model folder problems are named with their fix', () => {
  const refused = async (dir: string) => {
    const e = await loadTokenizer({ path: dir }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(TokenizeInputError);
    return (e as Error).message;
  };

  it('no tokenizer.json, no chat template, not a folder', async () => {
    const noJson = modelFolder('no-json');
    rmSync(path.join(noJson, 'tokenizer.json'));
    expect(await refused(noJson)).toMatch(
      /has no tokenizer\.json: .*copy it .*tokenizer_config\.json.* or set baseModel\.tokenizer to a preset \(llama3\.1/,
    );
    expect(await refused(modelFolder('no-template', { noTemplate: true }))).toMatch(
      /has no chat template \(no chat_template\.jinja, and no chat_template in tokenizer_config\.json\).*copy chat_template\.jinja/,
    );
    expect(await refused(path.join(tmp, 'absent'))).toMatch(/is not a folder on this machine/);
  });

  it('a template whose assistant turns end in no special token', async () => {
    const dir = modelFolder('plain-template', { jinja: true });
    writeFileSync(
      path.join(dir, 'chat_template.jinja'),
      '{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}',
    );
    expect(await refused(dir)).toMatch(
      /chat_template\.jinja: the chat template puts no special token after an assistant message/,
    );
  });
});

describe('baseModel.tokenizer: model', () => {
  const modelDir = modelFolder('deepseek-model', { config: { model_type: 'deepseek_v3', vocab_size: 129280 } });

  it('resolves to the model folder; a relative {path} resolves against baseDir; needs a local folder', () => {
    expect(resolveTokenizer('model', modelDir, '/elsewhere')).toEqual({ path: modelDir });
    expect(resolveTokenizer({ path: 'deepseek-model' }, undefined, tmp)).toEqual({ path: modelDir });
    expect(resolveTokenizer('qwen3', modelDir, tmp)).toBe('qwen3');
    expect(() => resolveTokenizer('model', 's3://bucket/deepseek', tmp)).toThrow(
      /baseModel\.path is s3:\/\/bucket\/deepseek: put the model's tokenizer files .* tokenizer: \{path: <folder>\}/,
    );
    expect(() =>
      parseExperiment({ name: 'x', spec: 'specs/demo.md', baseModel: { tokenizer: 'model' } }, 'inline'),
    ).toThrow(/tokenizer "model" reads tokenizer\.json and the chat template from baseModel\.path/);
  });

  it('an hf: model takes its tokenizer files from the local Hugging Face cache, or names the download', async () => {
    const saved = process.env.HF_HUB_CACHE;
    process.env.HF_HUB_CACHE = path.join(tmp, 'hub');
    try {
      expect(() => resolveTokenizer('model', 'hf:deepseek-ai/DeepSeek-V3', tmp)).toThrow(
        /model deepseek-ai\/DeepSeek-V3 is not in the Hugging Face cache .*huggingface-cli download deepseek-ai\/DeepSeek-V3 tokenizer\.json tokenizer_config\.json chat_template\.jinja/,
      );
      const repo = path.join(tmp, 'hub', 'models--deepseek-ai--DeepSeek-V3');
      const commit = 'c'.repeat(40);
      cpSync(FIXTURE, path.join(repo, 'snapshots', commit), { recursive: true });
      mkdirSync(path.join(repo, 'refs'));
      writeFileSync(path.join(repo, 'refs', 'main'), commit);
      const spec = resolveTokenizer('model', 'hf:deepseek-ai/DeepSeek-V3', tmp);
      expect(spec).toEqual({ path: path.join(repo, 'snapshots', commit) });
      expect((await loadTokenizer(spec)).eosId).toBe((await loadTokenizer({ path: FIXTURE })).eosId);
      expect(() => resolveTokenizer('model', 'hf:deepseek-ai/DeepSeek-V3@v2', tmp)).toThrow(
        /revision v2 of model deepseek-ai\/DeepSeek-V3 is not in the Hugging Face cache/,
      );
    } finally {
      if (saved === undefined) delete process.env.HF_HUB_CACHE;
      else process.env.HF_HUB_CACHE = saved;
    }
  });

  it('a preset on a model no preset fits is refused, naming tokenizer: model; the folder tokenizer passes', async () => {
    await expect(checkTokenizerFitsModel('llama3.1', modelDir)).rejects.toThrow(
      /is a deepseek_v3 model, which no preset fits: set baseModel\.tokenizer to model/,
    );
    await expect(checkTokenizerFitsModel({ path: modelDir }, modelDir)).resolves.toBeUndefined();
    const small = modelFolder('deepseek-small-rows', { config: { model_type: 'deepseek_v3', vocab_size: 100 } });
    await expect(checkTokenizerFitsModel({ path: small }, small)).rejects.toThrow(
      /model:deepseek-small-rows has \d+ token ids but .* has 100 embedding rows/,
    );
    expect(tokenizerFolderFiles(modelDir).templateFile).toBe(path.join(modelDir, 'tokenizer_config.json'));
  });
});
