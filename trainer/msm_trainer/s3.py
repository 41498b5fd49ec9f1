"""s3:// URIs, the S3 client and whole-object transfers, with every failure classified for the job contract:
the job's own fault (missing object or bucket, refused credentials) is BadInput; the network's (connection
errors, 5xx, throttling) is Retryable.

Settings come from the standard environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, and
AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL for a non-AWS server (MSM_S3_ENDPOINT, the TypeScript store's name,
is read too). boto3 is imported on first use, so file:// jobs never pay for it."""

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import BadInput, Retryable

_DENIED = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AllAccessDisabled",
    "AccountProblem",
    "Forbidden",
}
# 4xx codes that are the network's or the server's passing fault, not the job's.
_TRANSIENT = {
    "RequestTimeout",
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "BadDigest",
    "IncompleteBody",
    "OperationAborted",
}


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str  # no leading or trailing slash; '' is the bucket root

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"

    def child(self, *parts: str) -> "S3Uri":
        return S3Uri(self.bucket, "/".join(p for p in (self.key, *parts) if p))

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def parent(self) -> "S3Uri":
        return S3Uri(self.bucket, self.key.rpartition("/")[0])


def is_s3(uri: object) -> bool:
    return isinstance(uri, str) and uri.startswith("s3://")


def parse(uri: str, field: str) -> S3Uri:
    bucket, _, key = uri[len("s3://") :].partition("/")
    key = key.strip("/")
    if not bucket:
        raise BadInput(f"manifest field {field} is {uri}: an S3 URI needs a bucket (s3://bucket/prefix/...)")
    if key and any(part in ("", ".", "..") for part in key.split("/")):
        # Keys map onto local folder names (the cache and scratch mirror): no empty, '.' or '..' parts.
        raise BadInput(
            f"manifest field {field} is {uri}: its key has an empty, '.' or '..' part; use a plain s3://bucket/a/b/c"
        )
    return S3Uri(bucket, key)


def endpoint() -> str | None:
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "MSM_S3_ENDPOINT"):
        if os.environ.get(name):
            return os.environ[name]
    return None


def _where() -> str:
    return f"endpoint {endpoint()}" if endpoint() else "AWS S3"


_CLIENT_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
    "MSM_S3_ENDPOINT",
    "AWS_MAX_ATTEMPTS",
)


def client():
    # One client per distinct setting: an in-process caller (the tests) may change the environment.
    return _client_for(tuple(os.environ.get(k) for k in _CLIENT_ENV))


@functools.lru_cache(maxsize=4)
def _client_for(_settings) -> object:
    import boto3
    from botocore.config import Config

    ep = endpoint()
    cfg = Config(
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        # Non-AWS servers (SeaweedFS, MinIO, ...) are addressed by path, as the TypeScript store does.
        s3={"addressing_style": "path"} if ep else {},
        # botocore retries throttling and 5xx itself a few times before the fault reaches the job.
        retries={"mode": "standard", "max_attempts": int(os.environ.get("AWS_MAX_ATTEMPTS") or 4)},
        connect_timeout=10,
        read_timeout=120,
    )
    return boto3.session.Session().client("s3", endpoint_url=ep, config=cfg)


def _status(e) -> int | None:
    return e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _no_bucket(uri: S3Uri) -> str:
    return f"{uri}: bucket {uri.bucket} does not exist at {_where()}; check the URI or create the bucket"


def _client_error(e, uri: S3Uri, action: str) -> Exception:
    err = e.response.get("Error", {})
    code = str(err.get("Code", ""))
    status = _status(e)
    what = f"{code or status} {err.get('Message') or ''}".strip()
    if code == "NoSuchBucket":
        return BadInput(_no_bucket(uri))
    if status == 404 or code in ("NoSuchKey", "NotFound", "404"):
        return BadInput(f"{uri} does not exist at {_where()}; check the URI, or produce it first")
    if status in (401, 403) or code in _DENIED:
        # Without s3:ListBucket, AWS answers a read of a missing object with 403 too.
        maybe_missing = " (or, without s3:ListBucket, the object does not exist)" if action == "read" else ""
        return BadInput(
            f"S3 refused to {action} {uri} ({what}){maybe_missing}: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            f"for {_where()} and that they may read, list and write bucket {uri.bucket}"
        )
    if status is None or status >= 500 or status == 429 or code in _TRANSIENT:
        return Retryable(f"S3 failed to {action} {uri} ({what}); a transient fault, retry")
    return BadInput(f"S3 rejected the request to {action} {uri} ({what})")


@contextmanager
def classified(uri: S3Uri, action: str) -> Iterator[None]:
    """Turn whatever boto3 raises into BadInput or Retryable, with a message naming the URI and the fix."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        ParamValidationError,
        PartialCredentialsError,
    )
    from s3transfer.exceptions import RetriesExceededError

    try:
        yield
    except (NoCredentialsError, PartialCredentialsError) as e:
        raise BadInput(
            f"no S3 credentials to {action} {uri}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(and AWS_ENDPOINT_URL_S3 for a non-AWS server)"
        ) from e
    except ParamValidationError as e:
        raise BadInput(f"{uri} is not a valid S3 location: {e}") from e
    except ClientError as e:
        raise _client_error(e, uri, action) from e
    except (BotoCoreError, RetriesExceededError) as e:  # refused/reset connections, timeouts, torn bodies
        raise Retryable(f"cannot reach S3 to {action} {uri} at {_where()}: {e}") from e
    except Boto3Error as e:
        # upload_file wraps the ClientError it failed with (S3UploadFailedError); classify that one.
        cause = e.__cause__ or e.__context__
        if isinstance(cause, ClientError):
            raise _client_error(cause, uri, action) from e
        raise Retryable(f"S3 failed to {action} {uri}: {e}") from e


def head_size(uri: S3Uri) -> int | None:
    """The object's size, or None when it does not exist."""
    from botocore.exceptions import ClientError

    with classified(uri, "read"):
        try:
            return int(client().head_object(Bucket=uri.bucket, Key=uri.key)["ContentLength"])
        except ClientError as e:
            if _status(e) != 404:
                raise
        # A HEAD's 404 cannot say whether the key or the whole bucket is missing: ask, so errors say which.
        try:
            client().head_bucket(Bucket=uri.bucket)
        except ClientError as e:
            if _status(e) == 404:
                raise BadInput(_no_bucket(uri)) from e
            raise
    return None


def exists(uri: S3Uri) -> bool:
    return head_size(uri) is not None


def read_bytes(uri: S3Uri) -> bytes:
    with classified(uri, "read"):
        return client().get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()


def write_bytes(uri: S3Uri, data: bytes) -> None:
    """One PUT: S3 replaces an object atomically, so readers see the old bytes or the new, never a mix."""
    with classified(uri, "write"):
        client().put_object(Bucket=uri.bucket, Key=uri.key, Body=data)


def download(uri: S3Uri, dest: Path, size: int) -> None:
    """Download to dest (s3transfer: parallel ranged GETs for big files) and check the size, so a torn
    transfer is reported as a transient fault instead of being used."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with classified(uri, "download"):
        client().download_file(uri.bucket, uri.key, str(dest))
    got = dest.stat().st_size
    if got != size:
        dest.unlink()
        raise Retryable(f"torn download of {uri}: got {got} of {size} bytes; retry")


def upload(src: Path, uri: S3Uri) -> None:
    with classified(uri, "write"):
        client().upload_file(str(src), uri.bucket, uri.key)


def list_sizes(prefix: S3Uri) -> dict[str, int]:
    """Every object under prefix/ as {path relative to the prefix: size}."""
    under = f"{prefix.key}/" if prefix.key else ""
    out: dict[str, int] = {}
    with classified(prefix, "list"):
        for page in client().get_paginator("list_objects_v2").paginate(Bucket=prefix.bucket, Prefix=under):
            for obj in page.get("Contents", []):
                out[obj["Key"][len(under) :]] = int(obj["Size"])
    return out


def delete(uris: list[S3Uri]) -> None:
    """Delete objects (of one bucket) in batches; callers that need an order call this once per step."""
    for i in range(0, len(uris), 1000):
        batch = uris[i : i + 1000]
        with classified(batch[0], "delete"):
            r = client().delete_objects(
                Bucket=batch[0].bucket, Delete={"Objects": [{"Key": u.key} for u in batch], "Quiet": True}
            )
        if r.get("Errors"):
            first = r["Errors"][0]
            failed = S3Uri(batch[0].bucket, first.get("Key", ""))
            raise _client_error(_as_client_error(first), failed, f"delete ({len(r['Errors'])} objects failed)")


def _as_client_error(err: dict):
    """A per-object error of a batch delete as the ClientError a single request would have raised."""
    from botocore.exceptions import ClientError

    status = 403 if err.get("Code") in _DENIED else 500
    return ClientError({"Error": err, "ResponseMetadata": {"HTTPStatusCode": status}}, "DeleteObjects")
