"""Credentials encrypted at rest, decrypted in memory by the stage that needs them.

File format (JSON, ciphertext only, safe to commit)::

    {"format": 1, "key_id": "<first 16 hex of sha256(key)>",
     "secrets": {"<name>": "<base64(nonce || AES-256-GCM ciphertext+tag)>"}}

Each value has a fresh 96-bit nonce and the secret's name as associated data,
so a value cannot be moved under another name without detection. The 256-bit
master key never sits beside the file: it comes from ``ETL_MASTER_KEY``
(base64) or a key file outside the repository (``ETL_MASTER_KEY_FILE``,
default ``~/.config/etl/master.key``, created with mode 0600).

Built on ``cryptography``'s AESGCM; only the small file format is our own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from etl.errors import SecretError

FORMAT_VERSION = 1
KEY_ENV = "ETL_MASTER_KEY"
KEY_FILE_ENV = "ETL_MASTER_KEY_FILE"
DEFAULT_KEY_FILE = Path("~/.config/etl/master.key")


def key_file_path() -> Path:
    return Path(os.environ.get(KEY_FILE_ENV, str(DEFAULT_KEY_FILE))).expanduser()


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def load_master_key() -> bytes:
    """The master key from the environment or the key file, or a SecretError saying how to get one."""
    raw = os.environ.get(KEY_ENV)
    source = f"environment variable {KEY_ENV}"
    if raw is None:
        path = key_file_path()
        if not path.exists():
            raise SecretError(
                f"no master key: set {KEY_ENV} or create {path} with `etl secrets init`"
            )
        raw = path.read_text().strip()
        source = f"key file {path}"
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise SecretError(f"master key in {source} is not 32 bytes of base64; recreate it with `etl secrets init`")
    return key


def write_new_key_file(path: Path | None = None) -> tuple[Path, bytes]:
    """Create a fresh random key file readable by its owner only (0600)."""
    path = path or key_file_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = AESGCM.generate_key(bit_length=256)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode() + "\n")
    os.chmod(path, 0o600)
    return path, key


class SecretStore:
    """One encrypted secrets file; values are decrypted one at a time, on demand."""

    def __init__(self, path: Path | str, key: bytes | None = None):
        self.path = Path(path)
        self._key = key

    # -- reading -----------------------------------------------------------
    def _document(self) -> dict:
        if not self.path.exists():
            raise SecretError(f"secrets file {self.path} does not exist; create it with `etl secrets init`")
        try:
            doc = json.loads(self.path.read_text())
            assert doc["format"] == FORMAT_VERSION and isinstance(doc["secrets"], dict)
        except (ValueError, KeyError, AssertionError, TypeError):
            raise SecretError(f"secrets file {self.path} is not a valid secrets file (tampered or truncated)") from None
        return doc

    def key(self) -> bytes:
        if self._key is None:
            self._key = load_master_key()
        return self._key

    def names(self) -> list[str]:
        return sorted(self._document()["secrets"])

    def get(self, name: str) -> str:
        doc = self._document()
        key = self.key()
        if doc.get("key_id") != _key_id(key):
            raise SecretError(
                f"wrong master key for {self.path}: it was encrypted under another key; "
                f"use the key it was written with, or re-create the secrets"
            )
        if name not in doc["secrets"]:
            raise SecretError(f"secret '{name}' is missing from {self.path}; add it with `etl secrets set {name}`")
        try:
            blob = base64.b64decode(doc["secrets"][name], validate=True)
            return AESGCM(key).decrypt(blob[:12], blob[12:], name.encode()).decode()
        except (InvalidTag, ValueError):
            raise SecretError(f"secret '{name}' in {self.path} failed authentication: the file was tampered with") from None

    # -- writing -----------------------------------------------------------
    def init(self) -> None:
        self._write({})

    def set(self, name: str, value: str) -> None:
        doc = self._document()
        if doc.get("key_id") != _key_id(self.key()):
            raise SecretError(f"wrong master key for {self.path}; cannot add '{name}'")
        secrets = dict(doc["secrets"])
        secrets[name] = self._encrypt(name, value, self.key())
        self._write(secrets)

    def rotate(self, new_key: bytes) -> None:
        """Re-encrypt every value under ``new_key`` (the old key stops working)."""
        plain = {name: self.get(name) for name in self.names()}
        self._key = new_key
        self._write({name: self._encrypt(name, value, new_key) for name, value in plain.items()})

    @staticmethod
    def _encrypt(name: str, value: str, key: bytes) -> str:
        nonce = os.urandom(12)
        return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, value.encode(), name.encode())).decode()

    def _write(self, secrets: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"format": FORMAT_VERSION, "key_id": _key_id(self.key()), "secrets": dict(sorted(secrets.items()))}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        os.replace(tmp, self.path)
