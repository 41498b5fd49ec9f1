"""Entry point: run one job, print events on stdout, map failures onto the exit-code contract."""

import contextlib
import faulthandler
import json
import logging
import os
import signal
import sys
import traceback
from typing import IO

from .errors import EXIT_BAD_INPUT, EXIT_DONE, EXIT_LOCKED, EXIT_RETRYABLE, BadInput, JobLocked, Retryable, disk_full
from .events import Emitter
from .manifest import load_manifest
from .mirror import output_place, published_metrics
from .storage import JobLock

log = logging.getLogger("msm_trainer")


def _already_done(manifest_path: str, em: Emitter) -> bool:
    """A finished job reports done even if its inputs are gone since (idempotent re-run, no validation)."""
    try:
        d = json.loads(open(manifest_path, encoding="utf-8").read())
        metrics = published_metrics(output_place(d["outputUri"], "outputUri"))
        if metrics is not None:
            em.done(d["outputUri"], metrics)
            return True
    except (OSError, ValueError, KeyError, TypeError, BadInput, Retryable):
        pass  # the full validation below reports what is wrong
    return False


def _rank() -> int:
    """This process's rank when torchrun started it (0 otherwise): only rank 0 speaks on stdout."""
    return int(os.environ.get("RANK", "0"))


def _die_with_launcher() -> None:
    """torchrun starts each rank in a session of its own, outside the job's process group: have the kernel
    kill this rank when torchrun dies (a preempted machine, a SIGKILLed job), so no rank outlives its job."""
    if "RANK" not in os.environ or not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # torchrun died before the call above
        os._exit(EXIT_RETRYABLE)


def _refuse(em: Emitter, message: str) -> int:
    """Refuse the job's input: the error event, and under torchrun a note in MSM_REFUSAL_FILE from any rank.
    Only rank 0 speaks on stdout, and when another rank refuses first torchrun ends the rest and exits 1
    before rank 0 can: the job wrapper (src/compute/job-folder.sh) turns the note into exit 2 and the event."""
    em.error(message, retryable=False)
    note = os.environ.get("MSM_REFUSAL_FILE")
    if note:
        tmp = f"{note}.{_rank()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps({"event": "error", "message": message, "retryable": False}) + "\n")
        os.replace(tmp, note)  # whole or absent: several ranks may refuse at once
    return EXIT_BAD_INPUT


def run(manifest_path: str, out: IO[str] | None = None) -> int:
    _die_with_launcher()
    em = Emitter(out) if _rank() == 0 else Emitter(open(os.devnull, "w"))
    kind = ""  # known once the manifest is read: an out-of-memory error names that kind's knobs
    try:
        if _already_done(manifest_path, em):
            return EXIT_DONE
        m = load_manifest(manifest_path)
        kind = m.kind
        import torch  # after validation: bad input is reported without the slow imports
        from transformers.utils import logging as hf_logging

        torch.set_num_threads(max(1, int(os.environ.get("MSM_TORCH_THREADS", "2"))))
        hf_logging.disable_progress_bar()  # progress bars would flood stderr.log
        # The lock is on this machine's folder (the scratch mirror for s3://): it stops a second process here.
        # Two machines on one S3 prefix are prevented by the orchestrator (one job id per output), not by us.
        # Under torchrun the job's ranks are one job: rank 0 holds the lock for all of them.
        lock = (
            JobLock(output_place(m.checkpointPrefix, "checkpointPrefix").local)
            if _rank() == 0
            else contextlib.nullcontext()
        )
        with lock:
            if m.kind == "generate":
                from .generate import generate

                generate(m, em)
            elif m.kind == "inspect":
                from .inspect_job import run_inspect

                run_inspect(m, em)
            elif m.kind == "capabilities":
                from .capabilities_job import run_capabilities

                run_capabilities(m, em)
            elif m.kind == "inspect-calibration":
                from .inspect_calibration import run_inspect_calibration

                run_inspect_calibration(m, em)
            else:
                from .train import train

                train(m, em)
        return EXIT_DONE
    except BadInput as e:
        log.error("bad input: %s", e)
        return _refuse(em, str(e))
    except JobLocked as e:
        log.error("%s", e)
        em.error(str(e), retryable=True)
        return EXIT_LOCKED
    except BaseException as e:
        # torch.distributed.checkpoint raises CheckpointException, a BaseException: a failed save is the job's
        # error like any other. Interrupts and exits stay what they are.
        if not isinstance(e, Exception) and type(e).__name__ != "CheckpointException":
            raise
        full = disk_full(e)  # a full disk fills again after a restart: the fix is the person's
        if full is not None:
            traceback.print_exc(file=sys.stderr)
            return _refuse(em, full)
        if isinstance(e, Retryable):
            log.error("%s", e)
            em.error(str(e), retryable=True)
            return EXIT_RETRYABLE
        traceback.print_exc(file=sys.stderr)
        if type(e).__name__ == "OutOfMemoryError":
            # Deterministic for a given job: retrying on the same machine fails again.
            knobs = {
                "generate": "batchSize or maxNewTokens",
                "inspect": "inspect.batchSize or inspect.maxTokens",
                "capabilities": "capabilities.batchSize or the checks' maxTokens",
            }.get(kind, "hyper.microBatchSize, turn on hyper.gradientCheckpointing or use more GPUs (see msm plan)")
            return _refuse(em, f"out of GPU memory: lower {knobs} ({e})")
        em.error(f"{type(e).__name__}: {e}", retryable=True)
        return EXIT_RETRYABLE


def main(argv: list[str]) -> int:
    # A rank that dies in native code (SIGABRT, SIGSEGV: gloo, NCCL, CUDA) prints where its Python was in stderr.
    faulthandler.enable()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if len(argv) != 1:
        print("usage: python -m msm_trainer <manifest.json>", file=sys.stderr)
        Emitter().error("usage: python -m msm_trainer <manifest.json>", retryable=False)
        return EXIT_BAD_INPUT
    return run(argv[0])
