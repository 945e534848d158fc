"""Object-store housekeeping outside Spark: list, hash, peek, move, upload.

Spark reads and writes the data itself; this module does the small per-file
work around it (a file's checksum, its header line, moving it to archive/)
with boto3 against S3/MinIO, or plain filesystem calls for the ``local``
profile. Both stream: no file is ever held whole in memory.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from etl.config import Config

CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class StoredFile:
    uri: str          # as Spark reads it: s3a://bucket/key or file:///abs/path
    key: str          # path relative to the area root, e.g. sales/2026-11-22/sales_1.csv
    size: int


class ObjectStore:
    """One area (landing, lake or exports): a bucket on S3, a folder locally."""

    def __init__(self, root: str):
        self.root = root

    def list(self, prefix: str) -> list[StoredFile]:
        raise NotImplementedError

    def open_chunks(self, key: str) -> Iterator[bytes]:
        raise NotImplementedError

    def move(self, key: str, new_key: str) -> None:
        raise NotImplementedError

    def upload(self, local: Path, key: str) -> str:
        raise NotImplementedError

    def put_text(self, key: str, text: str) -> None:
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def uri_for(self, key: str) -> str:
        """Where Spark reads ``key`` of this area."""
        raise NotImplementedError

    def delete_prefix(self, prefix: str) -> int:
        """Remove every file under ``prefix``; returns how many."""
        raise NotImplementedError

    def prefixed(self, prefix: str) -> "ObjectStore":
        """The same area seen from ``prefix`` down (keys relative to it)."""
        raise NotImplementedError

    def head_bytes(self, key: str, limit: int = 4096) -> bytes:
        """The first ``limit`` bytes of a file (to sniff its format)."""
        data = b""
        for chunk in self.open_chunks(key):
            data += chunk
            if len(data) >= limit:
                break
        return data[:limit]

    def fingerprint(self, key: str, head_limit: int) -> tuple[str, bytes]:
        """sha256 of the whole file and its first ``head_limit`` bytes, from one streamed read."""
        digest = hashlib.sha256()
        head = b""
        for chunk in self.open_chunks(key):
            digest.update(chunk)
            if len(head) < head_limit:
                head += chunk[:head_limit - len(head)]
        return digest.hexdigest(), head

    def sha256(self, key: str) -> str:
        digest = hashlib.sha256()
        for chunk in self.open_chunks(key):
            digest.update(chunk)
        return digest.hexdigest()

    def first_line(self, key: str, limit: int = 64 * 1024) -> str:
        """The header line of a text file (at most ``limit`` bytes read)."""
        data = b""
        for chunk in self.open_chunks(key):
            data += chunk
            if b"\n" in data or len(data) >= limit:
                break
        return data.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").rstrip("\r")


class LocalStore(ObjectStore):
    def __init__(self, root: str):
        self.base = Path(root).resolve()
        super().__init__(str(self.base))

    def list(self, prefix: str) -> list[StoredFile]:
        folder = self.base / prefix
        if not folder.exists():
            return []
        return [
            # A plain path, not as_uri(): Spark reads the string literally, so %-encoding would break names.
            StoredFile(uri=str(p), key=str(p.relative_to(self.base)), size=p.stat().st_size)
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith(".")
        ]

    def open_chunks(self, key: str) -> Iterator[bytes]:
        with open(self.base / key, "rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def move(self, key: str, new_key: str) -> None:
        target = self.base / new_key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(self.base / key, target)

    def upload(self, local: Path, key: str) -> str:
        target = self.base / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, target)
        return target.as_uri()

    def put_text(self, key: str, text: str) -> None:
        target = self.base / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def exists(self, key: str) -> bool:
        return (self.base / key).exists()

    def uri_for(self, key: str) -> str:
        return str(self.base / key)

    def prefixed(self, prefix: str) -> "LocalStore":
        return LocalStore(str(self.base / prefix))

    def delete_prefix(self, prefix: str) -> int:
        folder = self.base / prefix
        if not folder.exists():
            return 0
        count = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder)
        return count


class S3Store(ObjectStore):
    def __init__(self, root: str, client):
        super().__init__(root)
        without_scheme = root.split("://", 1)[1]
        self.bucket, _, self.prefix = without_scheme.partition("/")
        self.client = client

    def _key(self, key: str) -> str:
        return f"{self.prefix.rstrip('/')}/{key}" if self.prefix else key

    def list(self, prefix: str) -> list[StoredFile]:
        paginator = self.client.get_paginator("list_objects_v2")
        files = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            for obj in page.get("Contents", []):
                full = obj["Key"]
                rel = full[len(self.prefix.rstrip("/")) + 1:] if self.prefix else full
                if rel.endswith("/") or rel.rsplit("/", 1)[-1].startswith("."):
                    continue
                files.append(StoredFile(uri=f"s3a://{self.bucket}/{full}", key=rel, size=obj["Size"]))
        return sorted(files, key=lambda f: f.key)

    def head_bytes(self, key: str, limit: int = 4096) -> bytes:
        """A ranged GET: a 2 GB file costs 4 KiB here, not a streamed chunk."""
        response = self.client.get_object(Bucket=self.bucket, Key=self._key(key), Range=f"bytes=0-{limit - 1}")
        return response["Body"].read()

    def first_line(self, key: str, limit: int = 64 * 1024) -> str:
        data = self.head_bytes(key, limit)
        return data.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").rstrip("\r")

    def open_chunks(self, key: str) -> Iterator[bytes]:
        body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()

    def move(self, key: str, new_key: str) -> None:
        self.client.copy({"Bucket": self.bucket, "Key": self._key(key)}, self.bucket, self._key(new_key))
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def upload(self, local: Path, key: str) -> str:
        self.client.upload_file(str(local), self.bucket, self._key(key))
        return f"s3a://{self.bucket}/{self._key(key)}"

    def put_text(self, key: str, text: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=text.encode())

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def uri_for(self, key: str) -> str:
        return f"s3a://{self.bucket}/{self._key(key)}"

    def prefixed(self, prefix: str) -> "S3Store":
        return S3Store(f"s3a://{self.bucket}/{self._key(prefix.strip('/'))}", self.client)

    def delete_prefix(self, prefix: str) -> int:
        paginator = self.client.get_paginator("list_objects_v2")
        count = 0
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                count += len(keys)
        return count


# Connections a client keeps open. Ingest has 16 object-store calls in flight at once
# (``IO_THREADS`` in etl/bronze/ingest.py); with botocore's default of 10, every call beyond
# the tenth opened a connection of its own and closed it afterwards, with a urllib3 warning
# ("Connection pool is full, discarding connection") per call: thousands of them on a year's
# first load.
S3_POOL_CONNECTIONS = 32


def s3_client(cfg: Config, get_secret: Callable[[str], str], identity: str | None = None):
    """A boto3 client for the profile's S3-compatible endpoint, signed in as the credential group
    ``identity`` (a stage's, ``storage.s3.stage_credentials``; the default pair when it has none)."""
    import boto3
    from botocore.config import Config as BotoConfig

    from etl.retry import log_s3_retries, s3_retry_config

    s3 = cfg.storage.s3
    keys = s3.identity(identity)
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        region_name=s3.region,
        aws_access_key_id=get_secret(keys.access_key_secret),
        aws_secret_access_key=get_secret(keys.secret_key_secret),
        config=BotoConfig(
            s3={"addressing_style": "path" if s3.path_style_access else "auto"},
            max_pool_connections=S3_POOL_CONNECTIONS,
            # botocore retries throttling, 5xx and connection errors with backoff; never 403 or NoSuchBucket.
            retries=s3_retry_config(cfg),
        ),
    )
    return log_s3_retries(client, cfg.retries.s3_max_attempts)


def store_for(cfg: Config, root: str, get_secret: Callable[[str], str], identity: str | None = None) -> ObjectStore:
    """The store behind a configured area root (``s3a://bucket[/prefix]`` or a local folder),
    signed in as the object-store identity ``identity`` (a stage's credential group)."""
    if root.startswith(("s3a://", "s3://")):
        return S3Store(root, s3_client(cfg, get_secret, identity))
    return LocalStore(str(cfg.path(root)))


def spark_uri(cfg: Config, root: str, *parts: str) -> str:
    """A URI Spark can read or write for a path under a configured area root."""
    base = root if "://" in root else cfg.path(root).as_uri()
    return "/".join([base.rstrip("/"), *[p.strip("/") for p in parts if p]])
