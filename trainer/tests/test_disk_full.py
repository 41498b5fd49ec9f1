"""A full disk is bad input with the fix (exit 2, not retried): a restart writes the same bytes and fills it again."""

import errno

import pytest
import torch
from conftest import hyper, pattern_tokens, run_inproc, train_manifest, write_packed

from msm_trainer.errors import disk_full


@pytest.fixture
def data(tmp_path):
    return write_packed(tmp_path / "data", pattern_tokens(16, 32))


def test_a_checkpoint_written_to_a_full_disk_exits_2_with_the_fix(tmp_path, data, monkeypatch):
    real_save = torch.save

    def save_to_full_disk(obj, f, *args, **kwargs):
        # /dev/full answers every write with ENOSPC: the kernel's own "No space left on device".
        with open("/dev/full", "wb", buffering=0) as full:
            real_save(obj, full, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_to_full_disk)
    m = train_manifest(tmp_path, data, hyper=hyper(checkpointEverySteps=2))
    code, ev = run_inproc(tmp_path, m)
    assert code == 2, ev
    err = ev[-1]
    assert err["event"] == "error" and err["retryable"] is False
    assert "disk is full" in err["message"] and "No space left on device" in err["message"]
    assert "compute.containerDiskGb" in err["message"] and "free disk space" in err["message"]
    assert any(e["event"] == "progress" for e in ev)  # it trained until the first checkpoint


def test_disk_full_sees_through_wrappers_and_leaves_other_errors_alone():
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/work/ckpt/model.safetensors")
        except OSError as inner:
            raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed") from inner
    except RuntimeError as wrapped:
        msg = disk_full(wrapped)
    assert msg is not None and "writing /work/ckpt/model.safetensors" in msg
    # safetensors reports the OS error in its message only
    assert disk_full(Exception('IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'))
    assert disk_full(OSError(errno.EDQUOT, "Disk quota exceeded")) is not None
    assert disk_full(OSError(errno.ENOENT, "No such file or directory")) is None
    assert disk_full(RuntimeError("CUDA error: an illegal memory access")) is None
