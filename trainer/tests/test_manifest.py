"""The manifest is validated against the shared schema (manifest.schema.json, generated from
src/training/manifest-schema.ts) and takes its defaults from it: a violation is bad input (exit 2) naming the
field, and a default changed in the schema is the default the trainer uses."""

import json
from pathlib import Path

import pytest
from conftest import pattern_tokens, run_inproc, train_manifest, write_packed

from msm_trainer import manifest
from msm_trainer.errors import BadInput


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_packed(tmp_path / "data", pattern_tokens(8, 16))


@pytest.mark.parametrize(
    "name, mutate, says",
    [
        ("wrong-type", lambda m: m.update(seed="3"), "manifest field seed must be an integer, got '3'"),
        (
            "wrong-type-nested",
            lambda m: m["hyper"].update(compile="yes"),
            "manifest field hyper.compile must be true or false, got 'yes'",
        ),
        ("unknown-kind", lambda m: m.update(kind="pretrain"), "manifest field kind is 'pretrain': use one of midtrain"),
        ("missing", lambda m: m.pop("checkpointPrefix"), "manifest field checkpointPrefix is missing"),
        ("missing-nested", lambda m: m["hyper"].pop("lr"), "manifest field hyper.lr is missing"),
        (
            "out-of-range",
            lambda m: m["hyper"].update(loraDropout=1.5),
            "manifest field hyper.loraDropout must be <= 0.99",
        ),
        ("zero-lr", lambda m: m["hyper"].update(lr=0), "manifest field hyper.lr must be > 0, got 0"),
        ("negative-seed", lambda m: m.update(seed=-1), "manifest field seed must be >= 0, got -1"),
        ("empty", lambda m: m.update(jobId=""), "manifest field jobId must be a non-empty string"),
        ("unknown-field", lambda m: m.update(epochs=2), "the manifest has unknown fields ['epochs']: use kind, jobId"),
        (
            "unknown-nested",
            lambda m: m["baseModel"].update(layers=3),
            "manifest field baseModel has unknown fields ['layers']",
        ),
        ("world", lambda m: m.update(world={"nodes": 0, "procsPerNode": 1}), "manifest field world.nodes must be >= 1"),
        ("arch", lambda m: m["baseModel"].update(arch="gpt2"), "manifest field baseModel.arch is 'gpt2': use one of"),
    ],
)
def test_a_manifest_breaking_the_schema_exits_2_naming_the_field(tmp_path, data, name, mutate, says):
    m = train_manifest(tmp_path, data, name=name)
    mutate(m)
    code, ev = run_inproc(tmp_path, m, name=f"{name}.json")
    assert code == 2 and ev == [ev[-1]] and ev[-1]["event"] == "error" and ev[-1]["retryable"] is False, ev
    assert says in ev[-1]["message"], ev[-1]["message"]
    assert "src/training/manifest-schema.ts" in ev[-1]["message"]  # where the contract is written


def test_a_non_json_number_is_refused(tmp_path, data):
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(train_manifest(tmp_path, data)).replace('"lr": 0.01', '"lr": NaN'))
    with pytest.raises(BadInput, match="NaN, which is not JSON"):
        manifest.load_manifest(str(path))


def test_cross_field_rules_stay_with_clear_messages(tmp_path, data):
    # Each is valid against the schema; the trainer's own rules refuse it.
    for fields, says in (
        ({"kind": "midtrain", "dataUri": None}, "manifest field dataUri is missing: a midtrain job trains on"),
        ({"kind": "aft", "hyper": None}, "manifest field hyper is missing: training jobs need hyper-parameters"),
        ({"baseModel": {"init": "pretrained"}}, "manifest field baseModel.path is missing"),
        ({"kind": "generate"}, "manifest field promptsUri is missing"),
    ):
        m = {k: v for k, v in {**train_manifest(tmp_path, data), **fields}.items() if v is not None}
        with pytest.raises(BadInput, match=says):
            manifest.parse_manifest(m)


def _defaults(node: dict, schema: dict) -> dict:
    node = schema["$defs"][node["$ref"].split("/")[-1]] if "$ref" in node else node
    return {k: v["default"] for k, v in node["properties"].items() if "default" in v}


def test_absent_fields_take_the_schemas_defaults(tmp_path, data):
    m = train_manifest(tmp_path, data)
    m["baseModel"] = {"init": "random", "vocabSize": 64}
    m["hyper"] = {"method": "lora", "lr": 1e-3, "batchSize": 4}
    m.pop("device")
    parsed = manifest.parse_manifest(m)
    schema = json.loads(manifest.SCHEMA_FILE.read_text(encoding="utf-8"))
    top = _defaults(schema, schema)
    assert top == {
        "fraction": 1,
        "freshAdapter": False,
        "subsetBySeed": False,
        "samplesPerPrompt": 1,
        "temperature": 1,
        "maxNewTokens": 128,
        "device": "auto",
    }
    assert {k: getattr(parsed, k) for k in top} == top
    base = _defaults(schema["properties"]["baseModel"], schema)
    assert base == {
        "hiddenSize": 64,
        "numLayers": 2,
        "numHeads": 4,
        "intermediateSize": 128,
        "initSeed": 0,
        "arch": "llama",
    }
    assert {k: getattr(parsed.baseModel, k) for k in base} == base
    hyper = _defaults(schema["properties"]["hyper"], schema)
    assert hyper["loraR"] == 64 and hyper["loraAlpha"] == 128 and hyper["microBatchSize"] == 4
    assert {k: getattr(parsed.hyper, k) for k in hyper} == hyper


def test_defaults_come_from_the_schema_file(tmp_path, data, monkeypatch):
    """A default changed in the schema (and nowhere else) is the trainer's default: none is written in Python."""
    schema = json.loads(manifest.SCHEMA_FILE.read_text(encoding="utf-8"))
    schema["$defs"]["TrainHyper"]["properties"]["loraR"]["default"] = 16
    schema["$defs"]["ModelInit"]["properties"]["hiddenSize"]["default"] = 96
    schema["properties"]["maxNewTokens"]["default"] = 7
    changed = tmp_path / "manifest.schema.json"
    changed.write_text(json.dumps(schema), encoding="utf-8")
    monkeypatch.setattr(manifest, "SCHEMA_FILE", changed)
    for cached in (manifest.schema, manifest._validator):
        cached.cache_clear()
    try:
        m = train_manifest(tmp_path, data)
        m["baseModel"] = {"init": "random", "numHeads": 4}
        m["hyper"] = {"method": "lora", "lr": 1e-3, "batchSize": 4}
        parsed = manifest.parse_manifest(m)
        assert parsed.hyper is not None
        assert (parsed.hyper.loraR, parsed.baseModel.hiddenSize, parsed.maxNewTokens) == (16, 96, 7)
    finally:
        manifest.schema.cache_clear()
        manifest._validator.cache_clear()


def test_the_schema_names_its_source_and_how_to_regenerate_it():
    schema = manifest.schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert manifest.REGENERATE in schema["$comment"]


def test_any_ranks_refusal_leaves_the_note_the_job_wrapper_reads(tmp_path, data, monkeypatch):
    # Under torchrun only rank 0 prints events; a rank that refuses first must still be heard, or torchrun
    # ends rank 0 before it speaks and the job looks retryable (src/compute/job-folder.sh reads the note).
    from msm_trainer import cli

    monkeypatch.setattr(cli, "_die_with_launcher", lambda: None)  # no PDEATHSIG on the test process
    note = tmp_path / "refused"
    monkeypatch.setenv("MSM_REFUSAL_FILE", str(note))
    monkeypatch.setenv("RANK", "1")
    m = train_manifest(tmp_path, data)
    m["hyper"]["lr"] = 0
    code, ev = run_inproc(tmp_path, m)
    assert code == 2 and ev == []  # rank 1 is silent on stdout
    (refusal,) = [json.loads(line) for line in note.read_text().splitlines()]
    assert refusal["event"] == "error" and refusal["retryable"] is False
    assert "manifest field hyper.lr must be > 0" in refusal["message"]
    assert not list(tmp_path.glob("refused.*.tmp"))
