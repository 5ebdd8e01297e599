"""The durable mode's S3 plumbing: request signing, the store's key pair, the SeaweedFS command line."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

from streams.object_store import S3Credentials, S3Store, seaweed_ports, sigv4_headers, weed_argv


def test_signature_matches_the_aws_documented_list_objects_example() -> None:
    # AWS S3 docs, "Signature Calculations for the Authorization Header", example GET Bucket (List Objects).
    creds = S3Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    headers = sigv4_headers("GET", "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J", creds,
                            now=dt.datetime(2013, 5, 24, tzinfo=dt.UTC))
    assert headers["Authorization"].endswith(
        "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    assert "SignedHeaders=host;x-amz-content-sha256;x-amz-date" in headers["Authorization"]


def test_the_key_pair_is_made_once_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "s3-credentials.json"
    first = S3Credentials.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert S3Credentials.load_or_create(path) == first
    assert first.secret_key != S3Credentials.load_or_create(tmp_path / "other.json").secret_key


def test_tansu_gets_the_endpoint_and_key_it_reads_from_its_environment() -> None:
    store = S3Store("http://127.0.0.1:9000", "cityops", S3Credentials("k", "s"))
    assert store.storage_engine == "s3://cityops/"
    assert store.tansu_env() == {"AWS_ENDPOINT": "http://127.0.0.1:9000", "AWS_ALLOW_HTTP": "true",
                                 "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
                                 "AWS_DEFAULT_REGION": "us-east-1"}


def test_seaweedfs_listens_on_loopback_only_with_every_port_chosen(tmp_path: Path) -> None:
    free = iter(range(40000, 40100))
    ports = seaweed_ports(lambda: next(free))
    assert ports["admin.port.grpc"] == ports["admin.port"] + 10000
    argv = weed_argv(tmp_path, ports, "cityops")
    assert argv[1] == "mini" and f"-dir={tmp_path}" in argv and "-bucket=cityops" in argv
    assert "-ip.bind=127.0.0.1" in argv and "-master.telemetry=false" in argv
    assert all(f"-{name}={port}" in argv for name, port in ports.items())
