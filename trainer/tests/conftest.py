"""Helpers shared by the trainer tests: tiny packed datasets, a tiny tokenizer, manifests, job runners."""

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TRAINER_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TRAINER_DIR))

# Same thread count in-process and in subprocesses: CPU float reductions depend on it.
os.environ.setdefault("MSM_TORCH_THREADS", "1")
VOCAB = 64
LLAMA_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def write_packed(d: Path, tokens: np.ndarray, loss_mask=None, lengths=None, vocab=VOCAB, pad_id=0, eos_id=1) -> Path:
    """Write an msm-packed-v1 dataset (the TypeScript tokenizer's output format) and return manifest.json."""
    d.mkdir(parents=True, exist_ok=True)
    n, seq_len = tokens.shape
    tokens.astype("<i4").tofile(d / "tokens.bin")
    if loss_mask is not None:
        loss_mask.astype("u1").tofile(d / "loss_mask.bin")
    if lengths is not None:
        np.asarray(lengths).astype("<i4").tofile(d / "lengths.bin")
    manifest = {
        "format": "msm-packed-v1",
        "seqLen": seq_len,
        "numSequences": n,
        "tokensFile": "tokens.bin",
        "lossMaskFile": "loss_mask.bin" if loss_mask is not None else None,
        "lengthsFile": "lengths.bin" if lengths is not None else None,
        "padId": pad_id,
        "eosId": eos_id,
        "vocabSize": vocab,
    }
    (d / "manifest.json").write_text(json.dumps(manifest))
    return d / "manifest.json"


def pattern_tokens(n: int, seq_len: int, seed: int = 0, vocab: int = VOCAB) -> np.ndarray:
    """Learnable rows: each row counts up by a row-specific stride from a random start."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(2, vocab, size=n)
    strides = rng.integers(1, 4, size=n)
    pos = np.arange(seq_len)
    return (2 + (starts[:, None] + strides[:, None] * pos[None, :]) % (vocab - 2)).astype(np.int32)


def make_tokenizer(d: Path, with_config: bool = True) -> Path:
    """A tiny word-level tokenizer with Llama-3-style special tokens (plus its chat template)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    d.mkdir(parents=True, exist_ok=True)
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    words = ["[UNK]", "user", "assistant", "system", "hello", "world", "what", "is", "cheese", "good", "yes", "no"]
    words += [f"w{i}" for i in range(VOCAB - len(words) - len(specials))]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece()
    tok.add_special_tokens(specials)
    assert tok.get_vocab_size(with_added_tokens=True) == VOCAB
    tok.save(str(d / "tokenizer.json"))
    if with_config:
        cfg = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "chat_template": LLAMA_TEMPLATE}
        (d / "tokenizer_config.json").write_text(json.dumps(cfg))
    return d / "tokenizer.json"


def tiny_base(**kw) -> dict:
    return {
        "init": "random",
        "hiddenSize": 32,
        "numLayers": 2,
        "numHeads": 4,
        "intermediateSize": 64,
        "vocabSize": VOCAB,
        "initSeed": 7,
        **kw,
    }


def hyper(**kw) -> dict:
    return {
        "method": "lora",
        "loraR": 4,
        "loraAlpha": 8,
        "loraDropout": 0.0,
        "lr": 1e-2,
        "warmupRatio": 0.1,
        "weightDecay": 0.01,
        "batchSize": 4,
        "epochs": 1,
        "maxSteps": 0,
        "checkpointEverySteps": 0,
        **kw,
    }


# The generate tests also run on a GPU host: MSM_TEST_DEVICE=cuda python -m pytest tests/test_generate.py
TEST_DEVICE = os.environ.get("MSM_TEST_DEVICE", "cpu")


def train_manifest(root: Path, data: Path, kind: str = "midtrain", name: str = "run", **kw) -> dict:
    m = {
        "kind": kind,
        "jobId": f"test-{name}",
        "baseModel": tiny_base(),
        "tokenizerUri": "file:///unused/tokenizer.json",
        "dataUri": data.as_uri(),
        "hyper": hyper(),
        "checkpointPrefix": (root / name / "checkpoints").as_uri(),
        "outputUri": (root / name / "final").as_uri(),
        "seed": 3,
        "device": TEST_DEVICE,
    }
    m.update(kw)
    return m


class _ProcessStarted(AssertionError):
    pass


@pytest.fixture(autouse=True)
def _quick_tests_start_no_process(request, monkeypatch):
    """A test that starts a process (or needs the S3 server) must carry @pytest.mark.slow (pytest.ini): the
    quick half, `-m "not slow"`, then never waits on one."""
    if request.node.get_closest_marker("slow"):
        return
    if "s3_server" in request.fixturenames:
        pytest.fail("this test uses the S3 server: mark it @pytest.mark.slow", pytrace=False)

    def refused(args, *rest, **kwargs):
        raise _ProcessStarted(f"this test starts a process ({args!r}): mark it @pytest.mark.slow")

    monkeypatch.setattr(subprocess, "Popen", refused)


def write_manifest(path: Path, manifest: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest))
    return path


def parse_events(text: str) -> list:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def run_inproc(tmp: Path, manifest: dict, name: str = "m.json"):
    """Run a job in this process (skips the ~5 s import cost of a subprocess). Returns (code, events)."""
    from msm_trainer.cli import run

    path = write_manifest(tmp / name, manifest)
    buf = io.StringIO()
    code = run(str(path), out=buf)
    return code, parse_events(buf.getvalue())


def subprocess_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(TRAINER_DIR), "PYTHONUNBUFFERED": "1"}


def run_subprocess(manifest_path: Path, timeout: float = 240):
    p = subprocess.run(
        [sys.executable, "-m", "msm_trainer", str(manifest_path)],
        cwd=TRAINER_DIR,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return p.returncode, parse_events(p.stdout), p.stderr


def run_until(manifest_path: Path, stop) -> list:
    """Start the job in a subprocess and SIGKILL it right after an event for which stop(event) holds (the
    job must not finish first); return the events it printed."""
    p = subprocess.Popen(
        [sys.executable, "-m", "msm_trainer", str(manifest_path)],
        cwd=TRAINER_DIR,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert p.stdout is not None  # stdout=PIPE
    lines = []
    try:
        for line in p.stdout:
            lines.append(line)
            ev = json.loads(line)
            assert ev["event"] not in ("done", "error"), ev
            if stop(ev):
                p.send_signal(signal.SIGKILL)
                break
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
    assert p.returncode == -signal.SIGKILL
    return parse_events("".join(lines))


def local(uri: str) -> Path:
    from msm_trainer.uris import local_path

    return local_path(uri, "test")


class S3Place:
    """One test's corner of the S3 server (a prefix of its own) and the trainer machine that uses it."""

    def __init__(self, server, prefix: str, machine: Path):
        self.server, self.prefix, self.machine = server, prefix, machine
        self.client = server.client()

    def key(self, *parts: str) -> str:
        return "/".join([self.prefix, *parts])

    def uri(self, *parts: str) -> str:
        return f"s3://{self.server.bucket}/{self.key(*parts)}"

    def put(self, data: bytes, *parts: str) -> str:
        self.client.put_object(Bucket=self.server.bucket, Key=self.key(*parts), Body=data)
        return self.uri(*parts)

    def put_tree(self, d: Path, *parts: str) -> str:
        for f in sorted(d.rglob("*")):
            if f.is_file():
                self.put(f.read_bytes(), *parts, f.relative_to(d).as_posix())
        return self.uri(*parts)

    def get(self, *parts: str) -> bytes:
        return self.client.get_object(Bucket=self.server.bucket, Key=self.key(*parts))["Body"].read()

    def keys(self, *parts: str) -> list:
        under = self.key(*parts) + "/"
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.server.bucket, Prefix=under)
        return sorted(o["Key"][len(under) :] for page in pages for o in page.get("Contents", []))

    def delete(self, *parts: str) -> None:
        self.client.delete_object(Bucket=self.server.bucket, Key=self.key(*parts))

    def new_machine(self) -> None:
        """Lose this machine: its trainer cache and scratch mirrors are gone, only S3 remains."""
        import shutil

        shutil.rmtree(self.machine, ignore_errors=True)


@pytest.fixture(scope="session")
def tiktoken_dir(tmp_path_factory) -> Path:
    """o200k_base built offline by the setup script (from node_modules/tiktoken), so Inspect downloads nothing."""
    d = tmp_path_factory.mktemp("tiktoken")
    subprocess.run(["bash", str(TRAINER_DIR.parent / "scripts" / "tiktoken-cache.sh"), str(d)], check=True)
    return d


@pytest.fixture(scope="session")
def tiny_gemma(tmp_path_factory) -> Path:
    """A 2-layer model folder with Gemma 3's architecture and tokenizer (tiny_gemma.py), made once per session."""
    from tiny_gemma import make_tiny_gemma

    return make_tiny_gemma(tmp_path_factory.mktemp("tiny-gemma"))


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    from seaweedfs import SeaweedS3

    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server, tmp_path, monkeypatch) -> S3Place:
    """The server's settings in the environment (subprocess jobs inherit it), nothing else from ~/.aws, a fresh
    trainer cache, and every generate progress uploaded at once."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "MSM_S3_ENDPOINT",
        "AWS_DEFAULT_REGION",
        "AWS_MAX_ATTEMPTS",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("MSM_TRAINER_CACHE", str(tmp_path / "machine"))
    monkeypatch.setenv("MSM_SAMPLES_UPLOAD_SECONDS", "0")
    return S3Place(s3_server, tmp_path.name, tmp_path / "machine")
