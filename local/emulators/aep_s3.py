"""How the emulator's Amazon S3 source reads a bucket: with the key its base connection holds.

Exactly as AEP's S3 source does it: a client on the connection's ``serviceUrl`` signed with its
``s3AccessKey``/``s3SecretKey`` (and ``s3SessionToken`` when set), never the caller's or the test's
AWS credentials, so moto's IAM decides what the key may read. S3 errors become :class:`S3Denied`
with S3's own code (``AccessDenied``, ``InvalidAccessKeyId``, ``NoSuchBucket``...).
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

__all__ = ["S3Denied", "S3File", "list_files", "read_file"]

_CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=10)


class S3Denied(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class S3File:
    key: str
    size: int
    modified: datetime
    etag: str


def _client(params: Mapping[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=params.get("serviceUrl") or None,
        region_name="us-east-1",
        aws_access_key_id=params["s3AccessKey"],
        aws_secret_access_key=params["s3SecretKey"],
        aws_session_token=params.get("s3SessionToken") or None,
        config=_CONFIG,
    )


def _denied(exc: Exception) -> S3Denied:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return S3Denied(str(error.get("Code") or "S3Error"), str(error.get("Message") or exc))
    return S3Denied("S3Unreachable", str(exc))


def list_files(
    params: Mapping[str, str], bucket: str, prefix: str, *, recursive: bool
) -> tuple[list[S3File], list[str]]:
    """The files below ``prefix`` (and, unless ``recursive``, the sub-folders as common prefixes)."""
    client = _client(params)
    files: list[S3File] = []
    folders: list[str] = []
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if not recursive:
        kwargs["Delimiter"] = "/"
    try:
        client.get_bucket_location(Bucket=bucket)
        for page in client.get_paginator("list_objects_v2").paginate(**kwargs):
            files += [S3File(o["Key"], int(o["Size"]), o["LastModified"], o["ETag"]) for o in page.get("Contents", [])]
            folders += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    except (ClientError, BotoCoreError) as exc:
        raise _denied(exc) from exc
    return files, folders


def read_file(params: Mapping[str, str], bucket: str, key: str, compression: str | None) -> bytes:
    """One object's content (gunzipped when the source connection says ``gzip``)."""
    try:
        body = _client(params).get_object(Bucket=bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise _denied(exc) from exc
    return gzip.decompress(body) if compression == "gzip" else bytes(body)
