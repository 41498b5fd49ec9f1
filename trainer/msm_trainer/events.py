"""The stdout event stream: one JSON object per line, flushed at once so a poller sees it live."""

import json
import math
import sys
from typing import IO, Any


def _clean(v: Any) -> Any:
    # JSON has no NaN/Infinity; a diverged loss must still produce a parseable line.
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    return v


class Emitter:
    def __init__(self, out: IO[str] | None = None):
        self.out = out if out is not None else sys.stdout

    def emit(self, event: str, **fields: Any) -> None:
        self.out.write(json.dumps({"event": event, **_clean(fields)}) + "\n")
        self.out.flush()

    def progress(self, step: int, total: int, loss: float | None, tokens_per_sec: float, **more: Any) -> None:
        extra = {} if loss is None else {"loss": loss}
        extra.update({k: v for k, v in more.items() if v is not None})
        self.emit("progress", step=step, totalSteps=total, tokensPerSec=tokens_per_sec, **extra)

    def checkpoint(self, step: int, uri: str) -> None:
        self.emit("checkpoint", step=step, uri=uri)

    def resumed(self, step: int, uri: str) -> None:
        self.emit("resumed", step=step, uri=uri)

    def done(self, output_uri: str, metrics: dict) -> None:
        self.emit("done", outputUri=output_uri, metrics=metrics)

    def error(self, message: str, retryable: bool) -> None:
        self.emit("error", message=message, retryable=retryable)
