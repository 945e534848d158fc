"""Secrets from a folder the platform fills (``secrets.source: folder``, etl/secrets.py FolderSecrets).

The compose stack mounts its credentials as Docker secrets (files in /run/secrets, their values from
docker/.env); here a temporary folder stands in for that mount: the code reads files either way.
Values are generated per run, so the repository holds no credential-like literal.
"""

from __future__ import annotations

import re
import secrets as random_tokens

import pytest

from etl.cli import main
from etl.config import load_config
from etl.errors import EXIT_CONFIG, SecretError
from etl.secrets import MISSING, OK, FolderSecrets, SecretStore, open_secrets, referenced_secrets
from tests.unit.test_secrets import stages_recorded  # noqa: F401  (a fixture: stages and Spark replaced by recorders)

VALUE = "v-" + random_tokens.token_urlsafe(12) + "-é!"   # generated: no credential-like literal


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "run-secrets"
    path.mkdir()
    (path / "mysql_password").write_text(VALUE + "\n", encoding="utf-8")
    (path / "mysql_user").write_text("etl", encoding="utf-8")
    return path


def test_a_value_is_the_files_content_without_one_trailing_newline(folder):
    store = FolderSecrets(folder)
    assert store.get("mysql_password") == VALUE
    assert store.get("mysql_user") == "etl"
    (folder / "two_lines").write_text("a\n\n")
    assert store.get("two_lines") == "a\n"


def test_names_and_verify(folder):
    store = FolderSecrets(folder)
    assert store.names() == ["mysql_password", "mysql_user"]
    assert store.verify(["mysql_user", "minio_access_key"]) == {"mysql_user": OK, "minio_access_key": MISSING}


def test_a_missing_secret_names_the_folder_and_where_to_set_it(folder):
    with pytest.raises(SecretError, match=r"'minio_access_key' is missing from the secrets folder .*run-secrets"
                                          r".*docker/\.env"):
        FolderSecrets(folder).get("minio_access_key")


def test_a_missing_folder_is_one_clear_error(tmp_path):
    with pytest.raises(SecretError, match=r"secrets folder .*nowhere does not exist"):
        FolderSecrets(tmp_path / "nowhere").get("mysql_user")


@pytest.mark.parametrize("name", ["../mysql_password", "/etc/passwd", "a/b", ""])
def test_a_name_can_never_reach_outside_the_folder(folder, name):
    (folder.parent / "mysql_password").write_text("outside")
    with pytest.raises(SecretError, match="a secret name is"):
        FolderSecrets(folder / "sub" if name == "a/b" else folder).get(name)


def test_the_profile_chooses_the_store(monkeypatch, folder):
    monkeypatch.delenv("ETL_PROFILE", raising=False)
    cfg = load_config("dev")
    assert isinstance(open_secrets(cfg), SecretStore)
    monkeypatch.setenv("ETL__SECRETS__SOURCE", "folder")
    monkeypatch.setenv("ETL__SECRETS__FOLDER", str(folder))
    store = open_secrets(load_config("dev"))
    assert isinstance(store, FolderSecrets) and store.get("mysql_password") == VALUE


def test_the_docker_profile_reads_the_mounted_docker_secrets():
    cfg = load_config("docker")
    assert cfg.secrets.source == "folder" and cfg.secrets.folder == "/run/secrets"


@pytest.fixture
def dev_from_folder(monkeypatch, folder):
    monkeypatch.delenv("ETL_PROFILE", raising=False)
    monkeypatch.setenv("ETL__SECRETS__SOURCE", "folder")
    monkeypatch.setenv("ETL__SECRETS__FOLDER", str(folder))
    return folder


def test_check_and_list_work_on_the_folder_and_writing_commands_are_refused(dev_from_folder, capsys):
    assert main(["secrets", "list", "--profile", "dev"]) == 0
    assert capsys.readouterr().out.split() == ["mysql_password", "mysql_user"]
    assert main(["secrets", "check", "--profile", "dev"]) == EXIT_CONFIG
    out, err = capsys.readouterr()
    assert re.search(r"^ok\s+mysql_password", out, re.M) and re.search(r"^missing\s+minio_access_key", out, re.M)
    assert VALUE not in out + err
    for action in ("init", "rotate", "upgrade"):
        assert main(["secrets", action, "--profile", "dev"]) == EXIT_CONFIG
        err = capsys.readouterr().err
        assert "reads its secrets from the folder" in err and "docker/.env" in err


def test_a_run_checks_the_folder_before_any_stage(dev_from_folder, capsys, stages_recorded):
    for name in referenced_secrets(load_config("dev")):
        if name not in ("mysql_user", "mysql_password"):
            (dev_from_folder / name).write_text(random_tokens.token_hex(8))
    assert main(["run", "--profile", "dev", "--date", "2026-11-22"]) == 0
    assert stages_recorded == ["ingest", "silver", "gold", "export"]
    stages_recorded.clear()
    capsys.readouterr()
    (dev_from_folder / "mysql_password").unlink()
    assert main(["run", "--profile", "dev", "--date", "2026-11-22"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert stages_recorded == [] and len(err.strip().splitlines()) == 1
    assert "nothing was run: secret 'mysql_password' is missing from the secrets folder" in err
    assert VALUE not in err
