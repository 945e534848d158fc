"""Secrets encrypted at rest (etl/secrets.py): AES-256-GCM per value, the name as associated data."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from etl.errors import ConfigError, SecretError
from etl.secrets import KEY_ENV, KEY_FILE_ENV, SecretStore, load_master_key, write_new_key_file

PASSWORD = "s3cr3t-Pa55word!"
USER = "etl-loader-user"


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


@pytest.fixture
def key(monkeypatch, tmp_path) -> bytes:
    value = new_key()
    monkeypatch.setenv(KEY_ENV, base64.b64encode(value).decode())
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "no-such.key"))
    return value


@pytest.fixture
def store(key, tmp_path) -> SecretStore:
    s = SecretStore(tmp_path / "secrets" / "dev.json")
    s.init()
    s.set("mysql_password", PASSWORD)
    s.set("mysql_user", USER)
    return s


def test_round_trip(store, tmp_path):
    fresh = SecretStore(tmp_path / "secrets" / "dev.json")  # reads the file and the key anew
    assert fresh.get("mysql_password") == PASSWORD
    assert fresh.get("mysql_user") == USER
    assert fresh.names() == ["mysql_password", "mysql_user"]


def test_file_holds_no_plaintext(store):
    text = store.path.read_text()
    assert PASSWORD not in text and USER not in text
    assert base64.b64encode(PASSWORD.encode()).decode() not in text
    assert base64.b64encode(store.key()).decode() not in text
    doc = json.loads(text)
    assert set(doc) == {"format", "key_id", "secrets"}


def test_each_value_gets_a_fresh_nonce(store):
    first = json.loads(store.path.read_text())["secrets"]["mysql_user"]
    store.set("mysql_user", USER)
    assert json.loads(store.path.read_text())["secrets"]["mysql_user"] != first


def test_wrong_key_is_refused(store, monkeypatch):
    monkeypatch.setenv(KEY_ENV, base64.b64encode(new_key()).decode())
    with pytest.raises(SecretError, match="wrong master key"):
        SecretStore(store.path).get("mysql_password")


def test_wrong_key_with_forged_key_id_fails_authentication(store):
    # key_id only gives a friendly message; the cipher itself must refuse another key
    other = new_key()
    doc = json.loads(store.path.read_text())
    doc["key_id"] = hashlib.sha256(other).hexdigest()[:16]
    store.path.write_text(json.dumps(doc))
    with pytest.raises(SecretError, match="failed authentication"):
        SecretStore(store.path, key=other).get("mysql_password")


def test_tampered_ciphertext_is_detected(store):
    doc = json.loads(store.path.read_text())
    blob = bytearray(base64.b64decode(doc["secrets"]["mysql_password"]))
    blob[15] ^= 0x01  # one bit of the ciphertext, after the 12-byte nonce
    doc["secrets"]["mysql_password"] = base64.b64encode(bytes(blob)).decode()
    store.path.write_text(json.dumps(doc))
    with pytest.raises(SecretError, match="failed authentication"):
        SecretStore(store.path).get("mysql_password")


def test_truncated_file_is_detected(store):
    store.path.write_text(store.path.read_text()[:40])
    with pytest.raises(SecretError, match="not a valid secrets file"):
        SecretStore(store.path).get("mysql_password")


def test_value_moved_under_another_name_fails(store):
    doc = json.loads(store.path.read_text())
    doc["secrets"]["mysql_user"] = doc["secrets"]["mysql_password"]
    store.path.write_text(json.dumps(doc))
    with pytest.raises(SecretError, match="'mysql_user'.*failed authentication"):
        SecretStore(store.path).get("mysql_user")


def test_missing_secret_is_named(store):
    with pytest.raises(SecretError, match="secret 'minio_access_key' is missing"):
        store.get("minio_access_key")


def test_missing_key_says_how_to_get_one(monkeypatch, tmp_path):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "absent.key"))
    with pytest.raises(SecretError, match=f"no master key: set {KEY_ENV}"):
        load_master_key()


def test_malformed_key_is_refused(monkeypatch):
    monkeypatch.setenv(KEY_ENV, base64.b64encode(b"short").decode())
    with pytest.raises(SecretError, match="not 32 bytes"):
        load_master_key()


def test_missing_secrets_file(key, tmp_path):
    with pytest.raises(SecretError, match="does not exist"):
        SecretStore(tmp_path / "absent.json").get("mysql_password")


def test_key_file_is_owner_only_and_used(monkeypatch, tmp_path):
    monkeypatch.delenv(KEY_ENV, raising=False)
    path = tmp_path / "keys" / "master.key"
    monkeypatch.setenv(KEY_FILE_ENV, str(path))
    written, key = write_new_key_file()
    assert written == path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_master_key() == key


def test_rotate_re_encrypts_under_the_new_key(store):
    new = new_key()
    store.rotate(new)
    assert SecretStore(store.path, key=new).get("mysql_password") == PASSWORD
    with pytest.raises(SecretError, match="wrong master key"):
        SecretStore(store.path).get("mysql_password")  # the old key from the environment


def test_secret_errors_are_config_errors():
    assert issubclass(SecretError, ConfigError)
