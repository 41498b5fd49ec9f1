"""baseModel.path forms (weights.py): the manifest's cheap checks, an S3 model folder on a real S3 server
(downloaded once per host, sizes and SHA256SUMS checked, used by a training job), and the Hub path failing
at once, non-retryably, when this host cannot reach the Hub."""

import hashlib
import json
import subprocess
import sys

import pytest
from conftest import (
    TRAINER_DIR,
    hyper,
    pattern_tokens,
    run_inproc,
    subprocess_env,
    train_manifest,
    write_manifest,
    write_packed,
)
from seaweedfs import free_port

import msm_trainer.s3
from msm_trainer import weights
from msm_trainer.errors import BadInput
from msm_trainer.manifest import parse_model_init


@pytest.fixture(scope="module")
def tiny_hf(tmp_path_factory):
    """A tiny pretrained-layout folder (config.json + safetensors), as save_pretrained writes it."""
    from transformers import LlamaConfig, LlamaForCausalLM

    d = tmp_path_factory.mktemp("tiny-hf")
    cfg = LlamaConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=4,
        intermediate_size=64,
        vocab_size=64,
    )
    LlamaForCausalLM(cfg).save_pretrained(str(d))
    return d


def sums_of(d) -> bytes:
    return "".join(f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.name}\n" for f in sorted(d.iterdir())).encode()


def test_manifest_accepts_every_form_and_names_the_fix(tmp_path, tiny_hf):
    assert parse_model_init({"init": "pretrained", "path": str(tiny_hf)}).path == str(tiny_hf)
    hub = parse_model_init({"init": "pretrained", "path": "hf:google/gemma-3-270m@main"})
    assert hub.path is not None and hub.path.startswith("hf:")
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    parse_model_init({"init": "pretrained", "path": str(tmp_path / "m.gguf")})
    bad = {
        str(tmp_path / "nope"): "is not a directory",
        str(tmp_path / "nope.gguf"): "is not a file",
        "hf:gemma-3-270m": "hf:<org>/<name>",
        "hf:google/gemma 3": "hf:<org>/<name>",
        "https://huggingface.co/google/gemma-3-270m": "s3://bucket/prefix",
        "s3://": "needs a bucket",
    }
    for path, why in bad.items():
        with pytest.raises(BadInput, match="baseModel.path") as e:
            parse_model_init({"init": "pretrained", "path": path})
        assert why in str(e.value), (path, str(e.value))


def test_a_folder_without_config_json_is_refused(tmp_path):
    with pytest.raises(BadInput, match="no config.json"):
        weights.resolve(str(tmp_path))


def test_a_gguf_file_transformers_cannot_read_is_bad_input_and_leaves_nothing_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("MSM_TRAINER_CACHE", str(tmp_path / "machine"))
    (tmp_path / "torn.gguf").write_bytes(b"GGUF\x03\x00")
    with pytest.raises(BadInput, match="transformers cannot read this GGUF file"):
        weights.resolve(str(tmp_path / "torn.gguf"))
    assert not list((tmp_path / "machine" / "gguf").iterdir())


@pytest.mark.slow
def test_s3_model_is_fetched_once_checked_and_trained_on(s3, tmp_path, tiny_hf):
    (tiny_hf / weights.SHA256SUMS).write_bytes(sums_of(tiny_hf))
    uri = s3.put_tree(tiny_hf, "models", "tiny")
    (tiny_hf / weights.SHA256SUMS).unlink()
    parse_model_init({"init": "pretrained", "path": uri})  # the listing is reachable and not empty
    with pytest.raises(BadInput, match="nothing is stored"):
        parse_model_init({"init": "pretrained", "path": s3.uri("models", "missing")})

    local = weights.resolve(uri)
    assert local.is_relative_to(s3.machine)
    for f in tiny_hf.iterdir():
        assert (local / f.name).read_bytes() == f.read_bytes()

    # Later jobs on this host reuse the copy: no S3 traffic at all.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(msm_trainer.s3, "download", lambda *a: pytest.fail("downloaded twice"))
        mp.setattr(msm_trainer.s3, "list_sizes", lambda *a: pytest.fail("listed twice"))
        assert weights.resolve(uri) == local

    data = write_packed(tmp_path / "data", pattern_tokens(8, 16))
    m = train_manifest(
        tmp_path, data, name="s3base", baseModel={"init": "pretrained", "path": uri}, hyper=hyper(maxSteps=2)
    )
    code, ev = run_inproc(tmp_path, m)
    assert code == 0, ev
    assert ev[-1]["event"] == "done"


@pytest.mark.slow
def test_s3_model_that_does_not_match_its_sha256sums_is_refused(s3, tiny_hf):
    wrong = hashlib.sha256((tiny_hf / "config.json").read_bytes()).hexdigest()  # config's hash for the weights
    sums = f"{wrong}  model.safetensors\n".encode()
    s3.put_tree(tiny_hf, "models", "bad")
    s3.put(sums, "models", "bad", weights.SHA256SUMS)
    with pytest.raises(BadInput, match="does not match the sha256"):
        weights.resolve(s3.uri("models", "bad"))
    assert not list((s3.machine / "inputs").iterdir())  # nothing half-verified was kept


@pytest.mark.slow
def test_s3_prefix_without_a_model_folder_is_refused(s3):
    uri = s3.put(b"x", "models", "notamodel", "README.md")
    with pytest.raises(BadInput, match="holds no config.json"):
        weights.resolve(uri.rsplit("/", 1)[0])


def hub_job(tmp_path, env: dict):
    """A midtraining job on hf:google/gemma-3-270m in a fresh process (huggingface_hub reads its settings on
    import), with an empty HF cache."""
    data = write_packed(tmp_path / "data", pattern_tokens(8, 16))
    m = train_manifest(tmp_path, data, name="hub", baseModel={"init": "pretrained", "path": "hf:google/gemma-3-270m"})
    path = write_manifest(tmp_path / "hub.json", m)
    base = {k: v for k, v in subprocess_env().items() if k not in ("HF_HUB_OFFLINE", "HF_ENDPOINT", "HF_TOKEN")}
    env = {**base, "HF_HOME": str(tmp_path / "hf-home"), **env}
    p = subprocess.run(
        [sys.executable, "-m", "msm_trainer", str(path)],
        cwd=TRAINER_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return p.returncode, [json.loads(x) for x in p.stdout.splitlines() if x.strip()]


@pytest.mark.parametrize(
    "env", [{"HF_HUB_OFFLINE": "1"}, {"HF_ENDPOINT": "unreachable"}], ids=["offline", "unreachable"]
)
@pytest.mark.slow
def test_hub_model_without_the_hub_fails_at_once_and_says_what_to_do(tmp_path, env):
    if env.get("HF_ENDPOINT") == "unreachable":
        env = {"HF_ENDPOINT": f"http://127.0.0.1:{free_port()}"}  # nothing listens: connection refused
    code, ev = hub_job(tmp_path, env)
    assert code == 2, ev
    err = ev[-1]
    assert err["event"] == "error" and err["retryable"] is False
    assert "Pre-download" in err["message"] and "s3://" in err["message"], err["message"]
    assert ("HF_HUB_OFFLINE is set" in err["message"]) == ("HF_HUB_OFFLINE" in env)
