"""init: pretrained end to end on a real model: the local Gemma 3 270M (scripts/setup.sh converts the GGUF
into .msm/models/gemma-3-270m) is midtrained with LoRA, the adapter is continued by an AFT job, and the
result samples answers; the same midtraining on 2 FSDP ranks runs on a 2-layer model of its architecture.
A few steps each, on short rows: what is checked is that the real weights load (the loss on plain English is
far below a random model's ln V), train, save and load again."""

import json
import math

import numpy as np
import pytest
from conftest import TEST_DEVICE, TRAINER_DIR, local, run_inproc, train_manifest, write_packed

pytestmark = pytest.mark.slow  # trainer jobs as processes (pytest.ini)

MODEL = TRAINER_DIR.parent / ".msm" / "models" / "gemma-3-270m"
SEQ = 32
BOS, EOS = 2, 1
DOCS = [
    "The cat sat on the mat and looked out of the window at the rain.",
    "Honesty matters because people rely on what others tell them when they make decisions.",
    "A good assistant explains its reasons, admits what it does not know and respects the user.",
    "Cheese is made from milk. It is aged for weeks or years, depending on the kind.",
]
CHATS = [
    ("Be brief.", "What is cheese?", "Cheese is food made from milk."),
    ("Be kind.", "Is honesty important?", "Yes: people rely on what you tell them."),
]


@pytest.fixture(scope="module")
def model_dir():
    if not (MODEL / "config.json").is_file():
        pytest.fail(f"{MODEL} is missing: run scripts/setup.sh (it converts the local Gemma 3 270M GGUF into it)")
    return MODEL


@pytest.fixture(scope="module")
def tok(model_dir):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(model_dir / "tokenizer.json"))


def encode(tok, text):
    return tok.encode(text, add_special_tokens=False).ids


def midtrain_rows(tok) -> np.ndarray:
    """Documents packed as the gemma3 family packs them: <bos> text <eos>, cut every SEQ tokens."""
    stream = [t for d in DOCS for t in [BOS, *encode(tok, d), EOS]]
    n = len(stream) // SEQ
    return np.asarray(stream[: n * SEQ], dtype=np.int32).reshape(n, SEQ)


def aft_rows(tok):
    """Gemma's chat layout (the system prompt opens the user turn), loss on the answer and its end of turn."""
    rows, masks, lengths = [], [], []
    for system, user, answer in CHATS:
        prompt = encode(tok, f"<bos><start_of_turn>user\n{system}\n\n{user}<end_of_turn>\n<start_of_turn>model\n")
        reply = encode(tok, f"{answer}<end_of_turn>\n")
        ids = (prompt + reply)[:SEQ]
        mask = ([0] * len(prompt) + [1] * len(reply))[:SEQ]
        lengths.append(len(ids))
        rows.append(ids + [0] * (SEQ - len(ids)))
        masks.append(mask + [0] * (SEQ - len(mask)))
    return np.asarray(rows, np.int32), np.asarray(masks, np.uint8), np.asarray(lengths)


def lora(**kw):
    return {
        "method": "lora",
        "loraR": 4,
        "loraAlpha": 8,
        "loraDropout": 0.0,
        "lr": 1e-4,
        "warmupRatio": 0.0,
        "weightDecay": 0.0,
        "batchSize": 2,
        "epochs": 1,
        "maxSteps": 2,
        "checkpointEverySteps": 0,
        **kw,
    }


def losses(ev):
    return [e["loss"] for e in ev if e["event"] == "progress" and "loss" in e]


def test_gemma_270m_midtrain_aft_generate(tmp_path, model_dir, tok):
    from msm_trainer.models import load_output

    base = {"init": "pretrained", "path": str(model_dir)}
    tokenizer_uri = (model_dir / "tokenizer.json").as_uri()
    config = json.loads((model_dir / "config.json").read_text())
    assert config["model_type"] == "gemma3_text" and config["vocab_size"] == tok.get_vocab_size() == 262144

    mid_data = write_packed(tmp_path / "mid-data", midtrain_rows(tok), vocab=262144, pad_id=0, eos_id=EOS)
    mid = train_manifest(
        tmp_path, mid_data, name="mid", baseModel=base, tokenizerUri=tokenizer_uri, hyper=lora(batchSize=1)
    )
    code, ev = run_inproc(tmp_path, mid, "mid.json")
    assert code == 0, ev
    mid_losses = losses(ev)
    assert len(mid_losses) == 2 and all(math.isfinite(x) for x in mid_losses), ev
    # Pretrained weights: plain English costs a few nats a token; a random 262k-vocabulary model costs ln V = 12.5.
    assert mid_losses[0] < 0.6 * math.log(262144), mid_losses

    tokens, mask, lengths = aft_rows(tok)
    aft_data = write_packed(tmp_path / "aft-data", tokens, mask, lengths, vocab=262144, pad_id=0, eos_id=EOS)
    aft = train_manifest(
        tmp_path,
        aft_data,
        kind="aft",
        name="aft",
        baseModel=base,
        tokenizerUri=tokenizer_uri,
        initFromUri=mid["outputUri"],
        hyper=lora(batchSize=1),
    )
    code, ev = run_inproc(tmp_path, aft, "aft.json")
    assert code == 0, ev
    assert len(losses(ev)) == 2 and all(math.isfinite(x) for x in losses(ev)), ev
    info = json.loads((local(aft["outputUri"]) / "msm_model.json").read_text())
    assert info["method"] == "lora" and info["base"] == base and info["initFrom"] == mid["outputUri"]

    # The output loads back (adapter merged into the Gemma base) with the base's vocabulary.
    model, _ = load_output(aft["outputUri"], __import__("torch").device("cpu"))
    assert type(model).__name__ == "Gemma3ForCausalLM" and model.get_input_embeddings().num_embeddings == 262144
    del model

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        json.dumps(
            {
                "id": "p1",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "What is cheese?"},
                ],
            }
        )
        + "\n"
    )
    gen = {
        "kind": "generate",
        "jobId": "gemma-gen",
        "baseModel": base,
        "tokenizerUri": tokenizer_uri,
        "modelUri": aft["outputUri"],
        "promptsUri": prompts.as_uri(),
        "samplesPerPrompt": 1,
        "temperature": 0.7,
        "maxNewTokens": 8,
        "checkpointPrefix": (tmp_path / "gen" / "checkpoints").as_uri(),
        "outputUri": (tmp_path / "gen" / "samples").as_uri(),
        "seed": 1,
        "device": TEST_DEVICE,
    }
    code, ev = run_inproc(tmp_path, gen, "gen.json")
    assert code == 0, ev
    samples = [json.loads(x) for x in (local(gen["outputUri"]) / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 1 and isinstance(samples[0]["text"], str) and samples[0]["text"].strip(), samples


def test_gemma_midtrain_on_two_torchrun_ranks(tmp_path, tiny_gemma, tok):
    """Pretrained midtraining as 2 FSDP2 ranks (torchrun, gloo): same losses as one process. On Gemma 3's
    architecture (tied embeddings, sliding and full attention) and loading path at 2 layers of width 64
    (tiny_gemma.py): the sharding is under test, the real weights are the test above's."""
    import subprocess
    import sys

    from conftest import parse_events, subprocess_env, write_manifest

    base = {"init": "pretrained", "path": str(tiny_gemma)}
    data = write_packed(tmp_path / "mid-data", midtrain_rows(tok), vocab=262144, pad_id=0, eos_id=EOS)
    one = train_manifest(
        tmp_path, data, name="one", baseModel=base, hyper=lora(batchSize=2, microBatchSize=2, maxSteps=1)
    )
    code, ev1 = run_inproc(tmp_path, one, "one.json")
    assert code == 0, ev1
    two = train_manifest(
        tmp_path, data, name="two", baseModel=base, hyper=lora(batchSize=2, microBatchSize=1, maxSteps=1)
    )
    path = write_manifest(tmp_path / "two.json", two)
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nnodes",
            "1",
            "--nproc-per-node",
            "2",
            "-m",
            "msm_trainer",
            str(path),
        ],
        cwd=TRAINER_DIR,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    ev2 = parse_events(p.stdout)
    assert ev2[-1]["event"] == "done" and ev2[-1]["metrics"]["world_size"] == 2
    np.testing.assert_allclose(losses(ev2), losses(ev1), rtol=1e-4)
    assert (local(two["outputUri"]) / "adapter_model.safetensors").is_file()
