"""Secrets encrypted at rest (etl/secrets.py): AES-256-GCM per value, the name as associated data.

Also the ``etl secrets`` commands (init, set, list, rotate, check) and the pre-flight check that
stops ``etl run`` / ``etl export`` before any data is touched. No Spark is started: the stages are
replaced by recorders where a run gets that far.

Test values are generated per run, so the repository holds no credential-like literal.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import re
import secrets as random_tokens
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from etl.cli import main
from etl.config import load_config
from etl.errors import EXIT_CONFIG, ConfigError, SecretError
from etl.secrets import (
    FAILED,
    KEY_ENV,
    KEY_FILE_ENV,
    OK,
    SecretStore,
    load_master_key,
    pending_key_path,
    referenced_secrets,
    rotate_master_key,
    write_new_key_file,
)

PASSWORD = "pw-" + random_tokens.token_urlsafe(12) + "-é!"
USER = "user-" + random_tokens.token_hex(4)


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Never the real key file nor conf/secrets: every test gets its own, and no ETL_* leaks in."""
    for name in list(os.environ):
        if name.startswith("ETL__") or name in (KEY_ENV, "ETL_PROFILE"):
            monkeypatch.delenv(name)
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "no-such.key"))


@pytest.fixture
def key(monkeypatch, tmp_path) -> bytes:
    value = new_key()
    monkeypatch.setenv(KEY_ENV, b64(value))
    return value


@pytest.fixture
def store(key, tmp_path) -> SecretStore:
    s = SecretStore(tmp_path / "secrets" / "dev.json", profile="dev")
    s.init()
    s.set("mysql_password", PASSWORD)
    s.set("mysql_user", USER)
    return s


@pytest.fixture
def key_file(monkeypatch, tmp_path) -> Path:
    """The key in a 0600 key file (no ETL_MASTER_KEY)."""
    path = tmp_path / "home" / "master.key"
    monkeypatch.setenv(KEY_FILE_ENV, str(path))
    write_new_key_file(path)
    return path


def doc(path: Path) -> dict:
    return json.loads(path.read_text())


def write_doc(path: Path, document: dict) -> None:
    path.write_text(json.dumps(document))


# -- the file format ------------------------------------------------------------------
def test_round_trip(store, tmp_path):
    fresh = SecretStore(tmp_path / "secrets" / "dev.json")  # reads the file and the key anew
    assert fresh.get("mysql_password") == PASSWORD
    assert fresh.get("mysql_user") == USER
    assert fresh.names() == ["mysql_password", "mysql_user"]


def test_file_holds_no_plaintext(store):
    text = store.path.read_text()
    assert PASSWORD not in text and USER not in text
    assert base64.b64encode(PASSWORD.encode()).decode() not in text
    assert b64(store.key()) not in text
    assert set(json.loads(text)) == {"format", "profile", "key_id", "secrets"}


def test_each_value_gets_a_fresh_nonce(store):
    first = doc(store.path)["secrets"]["mysql_user"]
    store.set("mysql_user", USER)
    assert doc(store.path)["secrets"]["mysql_user"] != first


def test_writes_leave_no_temporary_file(store):
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["dev.json"]


# -- clear failures -------------------------------------------------------------------
def test_wrong_key_is_refused_naming_both_keys_and_the_source(store, monkeypatch):
    other = new_key()
    monkeypatch.setenv(KEY_ENV, b64(other))
    with pytest.raises(SecretError, match="wrong master key") as caught:
        SecretStore(store.path).get("mysql_password")
    text = str(caught.value)
    assert doc(store.path)["key_id"] in text and hashlib.sha256(other).hexdigest()[:16] in text
    assert f"environment variable {KEY_ENV}" in text and "\n" not in text


def test_wrong_key_with_forged_key_id_fails_authentication(store):
    # key_id only gives a friendly message; the cipher itself must refuse another key
    other = new_key()
    document = doc(store.path)
    document["key_id"] = hashlib.sha256(other).hexdigest()[:16]
    write_doc(store.path, document)
    with pytest.raises(SecretError, match="failed authentication"):
        SecretStore(store.path, key=other).get("mysql_password")


@pytest.mark.parametrize("position", [0, 11, 15, -1], ids=["nonce", "nonce-end", "ciphertext", "tag"])
def test_a_flipped_byte_anywhere_in_a_value_is_detected(store, position):
    document = doc(store.path)
    blob = bytearray(base64.b64decode(document["secrets"]["mysql_password"]))
    blob[position] ^= 0x01
    document["secrets"]["mysql_password"] = base64.b64encode(bytes(blob)).decode()
    write_doc(store.path, document)
    with pytest.raises(SecretError, match="'mysql_password'.*failed authentication.*tampered") as caught:
        SecretStore(store.path).get("mysql_password")
    assert "etl secrets set mysql_password" in str(caught.value)
    assert SecretStore(store.path).get("mysql_user") == USER   # the other value is unaffected


def test_truncated_file_is_detected(store):
    store.path.write_text(store.path.read_text()[:40])
    with pytest.raises(SecretError, match="not a valid secrets file"):
        SecretStore(store.path).get("mysql_password")


def test_value_moved_under_another_name_fails(store):
    document = doc(store.path)
    document["secrets"]["mysql_user"] = document["secrets"]["mysql_password"]
    write_doc(store.path, document)
    with pytest.raises(SecretError, match="'mysql_user'.*failed authentication"):
        SecretStore(store.path).get("mysql_user")


def test_missing_secret_is_named_with_the_command_to_add_it(store):
    with pytest.raises(SecretError, match="secret 'minio_access_key' is missing") as caught:
        SecretStore(store.path, profile="dev").get("minio_access_key")
    assert "`etl secrets set minio_access_key --profile dev`" in str(caught.value)


def test_missing_key_says_how_to_get_one(tmp_path):
    with pytest.raises(SecretError, match=f"no master key: set {KEY_ENV}.*etl secrets init"):
        load_master_key()


def test_malformed_key_is_refused(monkeypatch):
    monkeypatch.setenv(KEY_ENV, base64.b64encode(b"short").decode())
    with pytest.raises(SecretError, match="not 32 bytes"):
        load_master_key()


def test_missing_secrets_file(key, tmp_path):
    with pytest.raises(SecretError, match="does not exist"):
        SecretStore(tmp_path / "absent.json").get("mysql_password")


def test_key_file_is_owner_only_and_used(monkeypatch, tmp_path):
    path = tmp_path / "keys" / "master.key"
    monkeypatch.setenv(KEY_FILE_ENV, str(path))
    written, key = write_new_key_file()
    assert written == path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_master_key() == key


def test_a_key_file_others_can_read_is_refused(key_file):
    os.chmod(key_file, 0o644)
    with pytest.raises(SecretError, match="can be read by other users.*chmod 600"):
        load_master_key()


def test_a_key_file_inside_the_repository_is_refused():
    from etl.config import PROJECT_ROOT

    with pytest.raises(SecretError, match="must be outside the repository"):
        write_new_key_file(PROJECT_ROOT / "conf" / "master.key")
    assert not (PROJECT_ROOT / "conf" / "master.key").exists()


def test_a_name_holding_a_value_is_refused_without_repeating_it(store):
    with pytest.raises(SecretError) as caught:
        store.set(f"mysql_password={PASSWORD}", "x")
    assert PASSWORD not in str(caught.value)


def test_secret_errors_are_config_errors():
    assert issubclass(SecretError, ConfigError)


def test_verify_reports_each_name(store):
    document = doc(store.path)
    document["secrets"]["mysql_user"] = document["secrets"]["mysql_password"]
    write_doc(store.path, document)
    assert SecretStore(store.path).verify(["mysql_password", "mysql_user", "minio_access_key"]) == {
        "mysql_password": "ok", "mysql_user": "failed authentication", "minio_access_key": "missing"}


# -- values bound to their profile, and the old format ----------------------------------------
def test_a_value_copied_from_another_profiles_file_fails_with_a_clear_error(key, tmp_path):
    dev, docker = _two_files(tmp_path)                  # one key, two profiles
    docker.set("mysql_password", PASSWORD[::-1])
    document = doc(docker.path)
    document["secrets"]["mysql_password"] = doc(dev.path)["secrets"]["mysql_password"]   # dev's ciphertext
    write_doc(docker.path, document)
    with pytest.raises(SecretError) as caught:
        SecretStore(docker.path, profile="docker").get("mysql_password")
    message = str(caught.value)
    assert re.search(r"secret 'mysql_password' in .*docker\.json failed authentication: .*not encrypted for "
                     r"profile 'docker' and this name \(copied from another profile's file", message)
    assert "etl secrets set mysql_password --profile docker" in message
    assert PASSWORD not in message and "\n" not in message
    states = SecretStore(docker.path, profile="docker").verify(["mysql_password", "minio_secret_key"])
    assert [states[name] for name in ("mysql_password", "minio_secret_key")] == [FAILED, OK]


def test_a_whole_file_copied_to_another_profile_is_refused(key, tmp_path):
    dev, _ = _two_files(tmp_path)
    prod = tmp_path / "secrets" / "prod.json"
    prod.write_bytes(dev.path.read_bytes())
    with pytest.raises(SecretError, match=r"prod\.json belongs to profile 'dev', not 'prod'.*"
                                          r"etl secrets init --profile prod"):
        SecretStore(prod, profile="prod").get("mysql_password")
    document = doc(prod)
    document["profile"] = "prod"                        # relabelled: every value still says dev
    write_doc(prod, document)
    with pytest.raises(SecretError, match="'mysql_password'.*failed authentication"):
        SecretStore(prod, profile="prod").get("mysql_password")
    assert SecretStore(dev.path, profile="dev").get("mysql_password") == PASSWORD


def test_a_key_file_inside_the_repository_is_refused_when_read(monkeypatch, store, capsys):
    """Put there by hand (or left from before the check at creation): refused on every read, the key unused."""
    from etl.config import PROJECT_ROOT

    inside = PROJECT_ROOT / ".local" / f"test-master-{random_tokens.token_hex(4)}.key"   # git-ignored folder
    inside.parent.mkdir(exist_ok=True)
    try:
        inside.write_text(b64(store.key()) + "\n")
        os.chmod(inside, 0o600)
        monkeypatch.delenv(KEY_ENV)
        monkeypatch.setenv(KEY_FILE_ENV, str(inside))
        with pytest.raises(SecretError, match=f"master key file {re.escape(str(inside))} must be outside the "
                                              f"repository") as caught:
            load_master_key()
        assert b64(store.key()) not in str(caught.value)
        with pytest.raises(SecretError, match="must be outside the repository"):
            SecretStore(store.path, profile="dev").get("mysql_password")
        monkeypatch.setenv("ETL__SECRETS__FILE", str(store.path))
        capsys.readouterr()
        assert main(["secrets", "check", "--profile", "dev"]) == EXIT_CONFIG
        assert "must be outside the repository" in capsys.readouterr().err
    finally:
        inside.unlink(missing_ok=True)


def _format_1_file(path: Path, key: bytes, values: dict[str, str]) -> None:
    """A secrets file as format 1 wrote it (the name alone as associated data), built here independently."""
    def seal(name: str, value: str) -> str:
        nonce = os.urandom(12)
        return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, value.encode(), name.encode())).decode()

    path.parent.mkdir(parents=True, exist_ok=True)
    write_doc(path, {"format": 1, "key_id": hashlib.sha256(key).hexdigest()[:16],
                     "secrets": {name: seal(name, value) for name, value in values.items()}})


def test_a_format_1_file_still_decrypts_and_the_next_write_binds_it(key, tmp_path, caplog):
    path = tmp_path / "secrets" / "dev.json"
    _format_1_file(path, key, {"mysql_password": PASSWORD, "mysql_user": USER})
    old_user_blob = doc(path)["secrets"]["mysql_user"]
    store = SecretStore(path, profile="dev")
    with caplog.at_level("WARNING", logger="etl.secrets"):
        assert store.get("mysql_password") == PASSWORD and store.get("mysql_user") == USER
    assert store.format() == 1 and store.verify(["mysql_user"]) == {"mysql_user": "ok"}
    assert any("format 1" in r.getMessage() and "etl secrets upgrade --profile dev" in r.getMessage()
               for r in caplog.records)
    store.set("minio_access_key", "ak-" + random_tokens.token_hex(4))
    document = doc(path)
    assert (document["format"], document["profile"]) == (2, "dev")
    assert document["secrets"]["mysql_user"] != old_user_blob          # every value re-encrypted, bound
    fresh = SecretStore(path, profile="dev")
    assert fresh.get("mysql_password") == PASSWORD and fresh.get("mysql_user") == USER
    document["secrets"]["mysql_user"] = old_user_blob                  # an unbound copy no longer opens
    write_doc(path, document)
    with pytest.raises(SecretError, match="'mysql_user'.*failed authentication"):
        SecretStore(path, profile="dev").get("mysql_user")


def test_secrets_upgrade_rewrites_a_format_1_file_bound_and_says_so(dev_env, capsys, monkeypatch):
    key = new_key()
    monkeypatch.setenv(KEY_ENV, b64(key))
    _format_1_file(dev_env, key, {"mysql_password": PASSWORD, "mysql_user": USER})
    code, out, err = etl(capsys, "upgrade")
    assert code == 0, err
    assert f"rewrote {dev_env}: 2 secret(s) now bound to profile 'dev'" in out and PASSWORD not in out
    assert (doc(dev_env)["format"], doc(dev_env)["profile"]) == (2, "dev")
    assert SecretStore(dev_env, profile="dev").get("mysql_password") == PASSWORD
    code, out, _ = etl(capsys, "upgrade")
    assert code == 0 and "already bound to profile 'dev'" in out


def test_rotation_binds_a_format_1_file_of_a_known_profile_and_refuses_one_of_unknown_profile(key_file, tmp_path):
    dev, other = tmp_path / "secrets" / "dev.json", tmp_path / "secrets" / "other.json"
    old = load_master_key()
    _format_1_file(dev, old, {"mysql_password": PASSWORD})
    _format_1_file(other, old, {"mysql_user": USER})
    before = {p: p.read_bytes() for p in (key_file, dev, other)}
    with pytest.raises(SecretError, match=r"other\.json: the profile to bind its values to is not known"):
        rotate_master_key(dev, [other], {dev: "dev"})
    assert {p: p.read_bytes() for p in before} == before and not pending_key_path(key_file).exists()
    done = rotate_master_key(dev, [other], {dev: "dev", other: "other"})
    assert done.rotated == {dev: 1, other: 1}
    assert [doc(p)["profile"] for p in (dev, other)] == ["dev", "other"]
    assert SecretStore(other, profile="other").get("mysql_user") == USER


# -- rotation -------------------------------------------------------------------------
def test_rotate_re_encrypts_under_the_new_key(store):
    new = new_key()
    store.rotate(new)
    assert SecretStore(store.path, key=new).get("mysql_password") == PASSWORD
    with pytest.raises(SecretError, match="wrong master key"):
        SecretStore(store.path).get("mysql_password")  # the old key from the environment


def _two_files(tmp_path) -> tuple[SecretStore, SecretStore]:
    dev = SecretStore(tmp_path / "secrets" / "dev.json", profile="dev")
    dev.init()
    dev.set("mysql_password", PASSWORD)
    dev.set("mysql_user", USER)
    docker = SecretStore(tmp_path / "secrets" / "docker.json", profile="docker")
    docker.init()
    docker.set("minio_secret_key", PASSWORD[::-1])
    return dev, docker


def test_rotation_with_a_key_file_replaces_the_key_and_the_old_one_stops_working(key_file, tmp_path):
    old = key_file.read_text()
    dev, docker = _two_files(tmp_path)
    elsewhere = SecretStore(tmp_path / "secrets" / "other.json", key=new_key(), profile="other")   # another key
    elsewhere.init()
    before_elsewhere = elsewhere.path.read_bytes()

    done = rotate_master_key(dev.path, [docker.path, elsewhere.path, tmp_path / "absent.json"])

    assert done.rotated == {dev.path: 2, docker.path: 1} and done.other_key == [elsewhere.path]
    assert not done.key_from_env and done.key_path == key_file
    assert key_file.read_text() != old and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not pending_key_path(key_file).exists()
    assert sorted(p.name for p in key_file.parent.iterdir()) == ["master.key", "master.key.lock"]
    # values intact under the new key
    assert SecretStore(dev.path).get("mysql_password") == PASSWORD
    assert SecretStore(dev.path).get("mysql_user") == USER
    assert SecretStore(docker.path).get("minio_secret_key") == PASSWORD[::-1]
    assert elsewhere.path.read_bytes() == before_elsewhere
    # the old key opens nothing, with its own key_id or a forged one
    old_key = base64.b64decode(old)
    with pytest.raises(SecretError, match="wrong master key"):
        SecretStore(dev.path, key=old_key).get("mysql_password")
    document = doc(dev.path)
    document["key_id"] = hashlib.sha256(old_key).hexdigest()[:16]
    write_doc(dev.path, document)
    with pytest.raises(SecretError, match="failed authentication"):
        SecretStore(dev.path, key=old_key).get("mysql_password")


def test_rotation_with_the_key_in_the_environment_leaves_the_new_key_in_a_0600_file(store, key, monkeypatch):
    done = rotate_master_key(store.path)
    pending = pending_key_path()
    assert done.key_from_env and done.key_path == pending and stat.S_IMODE(pending.stat().st_mode) == 0o600
    with pytest.raises(SecretError, match=f"wrong master key.*{pending.name}.*put that key into {KEY_ENV}"):
        SecretStore(store.path).get("mysql_password")          # the old ETL_MASTER_KEY no longer works
    monkeypatch.setenv(KEY_ENV, pending.read_text().strip())  # what the user is told to do
    assert SecretStore(store.path).get("mysql_password") == PASSWORD
    # a later rotation sees the pending key already adopted and starts afresh
    again = rotate_master_key(store.path)
    assert again.rotated == {store.path: 2} and pending.exists()
    assert pending.read_text().strip() != os.environ[KEY_ENV]


def test_rotation_stops_before_any_change_when_a_value_does_not_authenticate(key_file, tmp_path):
    dev, docker = _two_files(tmp_path)
    document = doc(docker.path)
    blob = bytearray(base64.b64decode(document["secrets"]["minio_secret_key"]))
    blob[20] ^= 0x80
    document["secrets"]["minio_secret_key"] = base64.b64encode(bytes(blob)).decode()
    write_doc(docker.path, document)
    before = {p: p.read_bytes() for p in (key_file, dev.path, docker.path)}
    with pytest.raises(SecretError, match="'minio_secret_key'.*failed authentication"):
        rotate_master_key(dev.path, [docker.path])
    assert {p: p.read_bytes() for p in before} == before
    assert not pending_key_path(key_file).exists()


def test_rotation_refuses_a_file_under_another_key(key_file, tmp_path):
    other = SecretStore(tmp_path / "secrets" / "dev.json", key=new_key(), profile="dev")
    other.init()
    with pytest.raises(SecretError, match="wrong master key"):
        rotate_master_key(other.path)
    assert not pending_key_path(key_file).exists()


class Crash(Exception):
    pass


def test_a_crash_while_re_encrypting_leaves_every_file_readable_and_a_rerun_finishes(key_file, tmp_path,
                                                                                    monkeypatch):
    dev, docker = _two_files(tmp_path)
    real_write = SecretStore._write

    def write_then_crash(self, secrets, key, profile):
        if self.path == docker.path:
            raise Crash()
        real_write(self, secrets, key, profile)

    monkeypatch.setattr(SecretStore, "_write", write_then_crash)
    with pytest.raises(Crash):
        rotate_master_key(dev.path, [docker.path])
    monkeypatch.setattr(SecretStore, "_write", real_write)

    pending = pending_key_path(key_file)
    old_key, new = (base64.b64decode(p.read_text()) for p in (key_file, pending))
    # each file is whole under one of the two keys on disk
    assert SecretStore(dev.path, key=new).get("mysql_password") == PASSWORD
    assert SecretStore(docker.path, key=old_key).get("minio_secret_key") == PASSWORD[::-1]
    with pytest.raises(SecretError, match="rerun `etl secrets rotate --profile dev` to finish"):
        SecretStore(dev.path, profile="dev").get("mysql_password")

    done = rotate_master_key(dev.path, [docker.path])
    assert done.already == [dev.path] and done.rotated == {docker.path: 1}
    assert base64.b64decode(key_file.read_text()) == new and not pending.exists()
    assert SecretStore(dev.path).get("mysql_user") == USER
    assert SecretStore(docker.path).get("minio_secret_key") == PASSWORD[::-1]


def test_a_crash_before_the_key_swap_is_finished_by_a_rerun(key_file, tmp_path, monkeypatch):
    dev, _ = _two_files(tmp_path)
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst) == key_file:
            raise Crash()
        real_replace(src, dst)

    monkeypatch.setattr("etl.secrets.os.replace", replace)
    with pytest.raises(Crash):
        rotate_master_key(dev.path)
    monkeypatch.setattr("etl.secrets.os.replace", real_replace)
    new = base64.b64decode(pending_key_path(key_file).read_text())
    assert SecretStore(dev.path, key=new).get("mysql_password") == PASSWORD

    done = rotate_master_key(dev.path)
    assert done.already == [dev.path] and done.rotated == {}
    assert SecretStore(dev.path).get("mysql_password") == PASSWORD


# -- which secrets the config refers to -----------------------------------------------
def test_referenced_secrets_follow_the_config():
    dev = load_config("dev", environ={})
    stage_keys = {f"minio_{group}_{kind}_key": [f"storage.s3.stage_credentials.{group}.{kind}_key_secret"]
                  for group in ("ingest", "transform", "export", "run") for kind in ("access", "secret")}
    assert referenced_secrets(dev) == {
        "minio_access_key": ["storage.s3.access_key_secret"], "minio_secret_key": ["storage.s3.secret_key_secret"],
        **stage_keys, "mysql_user": ["mysql.user_secret"], "mysql_password": ["mysql.password_secret"],
        "mysql_reader_user": ["mysql.reader_user_secret"], "mysql_reader_password": ["mysql.reader_password_secret"]}
    # Each stage needs only its own identity (least privilege) and the run identity (the run lock, ops/runs),
    # never MinIO's root pair.
    run = {"minio_run_access_key", "minio_run_secret_key"}
    assert set(referenced_secrets(dev, ["ingest"])) == {"minio_ingest_access_key", "minio_ingest_secret_key", *run}
    assert set(referenced_secrets(dev, ["silver", "gold"])) == {"minio_transform_access_key",
                                                               "minio_transform_secret_key", *run}
    assert set(referenced_secrets(dev, ["export_excel"])) == {"minio_export_access_key", "minio_export_secret_key",
                                                              *run}
    assert "mysql_password" in referenced_secrets(dev, ["gold", "export"])
    # Without stage credentials every stage uses the default pair.
    single = load_config("local", environ={"ETL__STORAGE__S3": '{"endpoint": "http://h:1", '
                                           '"access_key_secret": "a", "secret_key_secret": "b"}'})
    assert set(referenced_secrets(single, ["ingest"])) == set(referenced_secrets(single, ["export"])) == {"a", "b"}
    assert referenced_secrets(load_config("local", environ={})) == {}
    renamed = load_config("dev", environ={"ETL__MYSQL__PASSWORD_SECRET": "prod_mysql_pw"})
    assert "prod_mysql_pw" in referenced_secrets(renamed)


# -- the etl secrets commands -----------------------------------------------------------
@pytest.fixture
def dev_env(monkeypatch, tmp_path) -> Path:
    """Profile dev with its secrets file in tmp_path; the key in a key file there (none yet)."""
    secrets_file = tmp_path / "secrets" / "dev.json"
    monkeypatch.setenv("ETL__SECRETS__FILE", str(secrets_file))
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "home" / "master.key"))
    return secrets_file


def etl(capsys, *argv: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["secrets", *argv, "--profile", "dev"])
    out, err = capsys.readouterr()
    return code, out, err


# The dev profile's object-store identities: one per stage group and the run's (least privilege), plus
# MinIO's root pair; the MySQL loader and the consumers' read-only account.
STAGE_KEYS = tuple(f"minio_{group}_{kind}_key" for group in ("ingest", "transform", "export", "run")
                   for kind in ("access", "secret"))
DEV_SECRETS = ("minio_access_key", "minio_secret_key", *STAGE_KEYS, "mysql_user", "mysql_password",
               "mysql_reader_user", "mysql_reader_password")


def filled(capsys, monkeypatch, names=DEV_SECRETS):
    assert etl(capsys, "init")[0] == 0
    values = {}
    for name in names:
        values[name] = f"{name}-{random_tokens.token_urlsafe(9)}"
        assert etl(capsys, "set", name, stdin=values[name] + "\n", monkeypatch=monkeypatch)[0] == 0
    return values


def test_init_creates_a_0600_key_outside_the_repository_and_an_empty_file(dev_env, capsys, tmp_path):
    code, out, _ = etl(capsys, "init")
    key_path = tmp_path / "home" / "master.key"
    assert code == 0 and str(key_path) in out and stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert doc(dev_env)["secrets"] == {}
    code, _, err = etl(capsys, "init")
    assert code == EXIT_CONFIG and "already exists" in err


def test_init_never_replaces_an_unreadable_key(dev_env, capsys, tmp_path):
    key_path = tmp_path / "home" / "master.key"
    key_path.parent.mkdir()
    key_path.write_text("not a key\n")
    os.chmod(key_path, 0o600)
    code, _, err = etl(capsys, "init")
    assert code == EXIT_CONFIG and "not 32 bytes" in err
    assert key_path.read_text() == "not a key\n" and not dev_env.exists()


def test_set_reads_stdin_and_list_shows_names_only(dev_env, capsys, monkeypatch):
    values = filled(capsys, monkeypatch)
    assert SecretStore(dev_env).get("mysql_password") == values["mysql_password"]   # one newline stripped
    code, out, _ = etl(capsys, "list")
    assert code == 0 and out.split() == sorted(values)
    assert not any(v in out for v in values.values())


def test_set_uses_a_no_echo_prompt_on_a_terminal(dev_env, capsys, monkeypatch):
    etl(capsys, "init")
    prompts = []

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or PASSWORD)
    code, out, err = etl(capsys, "set", "mysql_password")
    assert code == 0 and len(prompts) == 2       # asked twice, never echoed
    assert PASSWORD not in out + err + "".join(prompts)
    assert SecretStore(dev_env).get("mysql_password") == PASSWORD
    answers = iter([PASSWORD, PASSWORD + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    code, _, err = etl(capsys, "set", "mysql_user")
    assert code == EXIT_CONFIG and "differ" in err and "mysql_user" not in SecretStore(dev_env).names()


@pytest.mark.parametrize("argv", [["set", "mysql_password", PASSWORD], ["set", "mysql_password", "--value", PASSWORD],
                                  ["set", f"mysql_password={PASSWORD}"]],
                         ids=["positional", "option", "name=value"])
def test_set_refuses_a_value_given_as_an_argument_without_echoing_it(dev_env, capsys, monkeypatch, argv):
    etl(capsys, "init")
    before = dev_env.read_bytes()
    monkeypatch.setattr("sys.stdin", io.StringIO("from-stdin\n"))
    code, out, err = etl(capsys, *argv)
    assert code == EXIT_CONFIG
    assert PASSWORD not in out + err and len(err.strip().splitlines()) == 1
    assert "command line" in err
    assert dev_env.read_bytes() == before


def test_set_with_an_empty_stdin_stores_nothing(dev_env, capsys, monkeypatch):
    etl(capsys, "init")
    code, _, err = etl(capsys, "set", "mysql_password", stdin="", monkeypatch=monkeypatch)
    assert code == EXIT_CONFIG and "no value given" in err and SecretStore(dev_env).names() == []


def test_check_lists_every_referenced_secret_as_ok(dev_env, capsys, monkeypatch):
    values = filled(capsys, monkeypatch)
    code, out, err = etl(capsys, "check")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert [line.split()[:2] for line in lines] == [["ok", n] for n in sorted(values)]
    assert "(mysql.password_secret)" in out
    assert not any(v in out for v in values.values())


def test_check_names_missing_and_tampered_secrets_and_fails(dev_env, capsys, monkeypatch):
    values = filled(capsys, monkeypatch, names=("minio_access_key", "minio_secret_key", *STAGE_KEYS, "mysql_user",
                                                 "mysql_reader_user", "mysql_reader_password", "unused"))
    document = doc(dev_env)
    document["secrets"]["minio_secret_key"] = document["secrets"]["minio_access_key"]
    write_doc(dev_env, document)
    code, out, err = etl(capsys, "check")
    assert code == EXIT_CONFIG
    states = {line.split()[-2]: line.split()[0] for line in out.splitlines() if line.startswith(("ok", "missing", "failed"))}
    assert states == {"minio_access_key": "ok", "minio_secret_key": "failed", "mysql_user": "ok",
                      "mysql_password": "missing", "mysql_reader_user": "ok", "mysql_reader_password": "ok",
                      **{name: "ok" for name in STAGE_KEYS}}
    assert "not referenced by profile 'dev': unused" in out
    assert len(err.strip().splitlines()) == 1 and "2 of 14 secret(s)" in err
    assert not any(v in out + err for v in values.values())


@pytest.mark.parametrize("problem", ["no key", "wrong key", "truncated file", "no file"])
def test_check_and_list_fail_with_one_line_when_nothing_can_be_read(dev_env, capsys, monkeypatch, tmp_path, problem):
    filled(capsys, monkeypatch)
    key_path = tmp_path / "home" / "master.key"
    if problem == "no key":
        key_path.unlink()
    elif problem == "wrong key":
        write_new_key_file(key_path)
    elif problem == "truncated file":
        dev_env.write_text(dev_env.read_text()[:30])
    else:
        dev_env.unlink()
    code, out, err = etl(capsys, "check")
    assert code == EXIT_CONFIG and out == "" and len(err.strip().splitlines()) == 1
    assert {"no key": "no master key", "wrong key": "wrong master key", "truncated file": "not a valid secrets file",
            "no file": "does not exist"}[problem] in err


def test_check_of_a_profile_without_secrets(capsys, monkeypatch):
    assert main(["secrets", "check", "--profile", "local"]) == 0
    assert "refers to no secret" in capsys.readouterr().out


def test_rotate_command_keeps_values_and_retires_the_old_key(dev_env, capsys, monkeypatch, tmp_path):
    values = filled(capsys, monkeypatch)
    key_path = tmp_path / "home" / "master.key"
    old = key_path.read_text()
    code, out, _ = etl(capsys, "rotate")
    assert code == 0 and f"re-encrypted {dev_env} (14 secret(s))" in out and "old key no longer opens" in out
    assert key_path.read_text() != old
    assert etl(capsys, "check")[0] == 0
    assert all(SecretStore(dev_env).get(n) == v for n, v in values.items())
    with pytest.raises(SecretError, match="wrong master key"):
        SecretStore(dev_env, key=base64.b64decode(old)).get("mysql_user")


# -- the pre-flight check of etl run / etl export -----------------------------------------
@pytest.fixture
def stages_recorded(monkeypatch) -> list[str]:
    """The stages and Spark replaced by recorders: nothing may touch data before the check."""
    import etl.run.run
    from etl.run.stages import every_stage

    called: list[str] = []
    for stage in every_stage():
        monkeypatch.setattr(stage, "run", lambda run, stage=stage.name: called.append(stage))
    monkeypatch.setattr(etl.run.run, "build_session", lambda *a, **k: called.append("spark"))
    # The run lock lives in the object store, which these tests do not have (tests/integration/test_run_lock.py).
    monkeypatch.setattr(etl.run.run.Run, "locked", lambda self, stages, lock=None: contextlib.nullcontext(lock))
    monkeypatch.setattr(etl.run.run, "keep_lock", lambda *a, **k: None)
    return called


@pytest.mark.parametrize("problem", ["no key", "wrong key", "tampered", "missing", "no file"])
def test_run_stops_before_any_stage_with_one_line(dev_env, capsys, monkeypatch, tmp_path, stages_recorded,
                                                  problem):
    values = filled(capsys, monkeypatch)
    if problem == "no key":
        (tmp_path / "home" / "master.key").unlink()
    elif problem == "wrong key":
        write_new_key_file(tmp_path / "home" / "master.key")
    elif problem == "tampered":
        document = doc(dev_env)
        document["secrets"]["mysql_password"] = document["secrets"]["mysql_user"]
        write_doc(dev_env, document)
    elif problem == "missing":
        document = doc(dev_env)
        del document["secrets"]["mysql_password"]
        write_doc(dev_env, document)
    else:
        dev_env.unlink()
    code = main(["run", "--profile", "dev", "--date", "2026-11-22"])
    _, err = capsys.readouterr()
    assert code == EXIT_CONFIG and stages_recorded == []
    assert len(err.strip().splitlines()) == 1 and err.startswith("etl: error: ")
    expected = {"no key": "no master key", "wrong key": "wrong master key",
                "tampered": "'mysql_password' in .* failed authentication",
                "missing": "'mysql_password' is missing.*etl secrets set mysql_password --profile dev.*"
                           "mysql.password_secret, used by stage export",
                "no file": "does not exist"}[problem]
    assert re.search(expected, err), err
    assert not any(v in err for v in values.values())


def test_run_checks_only_the_secrets_of_the_chosen_stages(dev_env, capsys, monkeypatch, stages_recorded):
    filled(capsys, monkeypatch, names=STAGE_KEYS)   # no MySQL credentials, no MinIO root pair
    assert main(["run", "--profile", "dev", "--date", "2026-11-22", "--stages", "ingest,silver,gold"]) == 0
    assert stages_recorded == ["ingest", "silver", "gold"]
    stages_recorded.clear()
    assert main(["export", "excel", "--profile", "dev", "--date", "2026-11-22"]) == 0
    assert stages_recorded == ["export_excel"]
    stages_recorded.clear()
    capsys.readouterr()
    assert main(["export", "mysql", "--profile", "dev", "--date", "2026-11-22"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert stages_recorded == [] and len(err.strip().splitlines()) == 1
    assert "'mysql_user' is missing" in err and "1 more secret(s) unusable" in err


def test_run_of_a_profile_without_secrets_needs_no_key(capsys, stages_recorded):
    assert main(["run", "--profile", "local", "--date", "2026-11-22"]) == 0
    assert stages_recorded == ["ingest", "silver", "gold", "export"]
