"""Integration tests for ``devtools.services``: real MinIO and MariaDB on free loopback ports.

Why a dedicated config: the tests must never touch a developer's running dev
services, secrets file or master key, so ports, data directories, the secrets
file and the master key file all point into a pytest temporary directory.
One start is shared by the module to keep the tests fast (a few seconds).
The unmarked tests at the end check the install paths of a fresh machine
(go install, apt-get) with fakes, since the real ones take minutes.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devtools import services
from etl.config import load_config
from etl.secrets import SecretStore
from tests.conftest import server_folder
from tests.integration.conftest import free_ports

integration = pytest.mark.integration

PREBUILT_MINIO = Path("/tmp/gobin")  # built earlier on this machine; only a speed-up, not required


@pytest.fixture(scope="module")
def server_dir():
    with server_folder("services") as folder:
        yield folder


@pytest.fixture(scope="module")
def cfg(tmp_path_factory, server_dir):
    root = tmp_path_factory.mktemp("svc")
    minio_port, console_port, mariadb_port = free_ports(3)
    environ = {
        "ETL__SERVICES__MINIO__PORT": str(minio_port),
        "ETL__SERVICES__MINIO__CONSOLE_PORT": str(console_port),
        "ETL__SERVICES__MINIO__DATA_DIR": str(root / "minio"),
        "ETL__SERVICES__MARIADB__PORT": str(mariadb_port),
        "ETL__SERVICES__MARIADB__DATA_DIR": str(server_dir / "mariadb"),
        "ETL__STORAGE__S3__ENDPOINT": f"http://127.0.0.1:{minio_port}",
        "ETL__MYSQL__PORT": str(mariadb_port),
        "ETL__SECRETS__FILE": str(root / "secrets.json"),
    }
    config = load_config("dev", environ=environ)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("ETL_MASTER_KEY", raising=False)
        mp.setenv("ETL_MASTER_KEY_FILE", str(root / "key" / "master.key"))
        if not shutil.which("minio") and (PREBUILT_MINIO / "minio").exists():
            mp.setenv("PATH", f"{PREBUILT_MINIO}{os.pathsep}{os.environ['PATH']}")
        yield config
        services.stop(config, say=lambda line: None)


@pytest.fixture(scope="module")
def started(cfg):
    lines: list[str] = []
    info = services.start(cfg, say=lines.append)
    return info, lines


def _secret_values(cfg) -> list[str]:
    store = SecretStore(cfg.secrets_file)
    return [store.get(name) for name in store.names()]


def _app_query(cfg, tmp_path: Path, sql: str) -> subprocess.CompletedProcess:
    """Run SQL as the app user over TCP; the password goes in a 0600 defaults file, not argv."""
    store = SecretStore(cfg.secrets_file)
    defaults = tmp_path / "client.cnf"
    defaults.touch(mode=0o600)
    defaults.write_text(
        "[client]\n"
        f"user={store.get(cfg.mysql.user_secret)}\n"
        f"password={store.get(cfg.mysql.password_secret)}\n"
    )
    assert stat.S_IMODE(defaults.stat().st_mode) == 0o600
    return subprocess.run(
        [shutil.which("mariadb") or "mysql", f"--defaults-extra-file={defaults}", "--protocol=TCP",
         "--host=127.0.0.1", f"--port={cfg.services.mariadb.port}", "--batch", "--skip-column-names",
         cfg.mysql.database, "-e", sql],
        capture_output=True, text=True, timeout=30,
    )


@integration
def test_start_runs_both_and_second_start_is_a_no_op(cfg, started):
    first, lines = started
    assert first["minio"]["running"] and first["mariadb"]["running"]
    assert Path(cfg.path(cfg.services.minio.data_dir), "minio.pid").exists()
    again_lines: list[str] = []
    second = services.start(cfg, say=again_lines.append)
    assert second["minio"]["pid"] == first["minio"]["pid"]
    assert second["mariadb"]["pid"] == first["mariadb"]["pid"]
    assert any("already running" in line for line in again_lines)
    # Secrets were generated, stored encrypted, and never printed.
    assert {cfg.storage.s3.access_key_secret, cfg.storage.s3.secret_key_secret,
            cfg.mysql.user_secret, cfg.mysql.password_secret} <= set(SecretStore(cfg.secrets_file).names())
    output = "\n".join(lines + again_lines)
    for value in _secret_values(cfg):
        assert value not in output
        assert value not in cfg.secrets_file.read_text()


def _process_user(pid: int) -> str:
    import pwd

    uid = next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("Uid:"))
    return pwd.getpwuid(int(uid)).pw_name


@integration
def test_the_mariadb_server_never_runs_as_the_os_root_user(cfg, started):
    """Run by root, the dev server runs as Debian's mysql user (and by anyone else, as that user)."""
    info, _ = started
    expected = services.SERVER_OS_USER if os.geteuid() == 0 else _process_user(os.getpid())
    assert _process_user(info["mariadb"]["pid"]) == expected != "root"
    data = Path(cfg.path(cfg.services.mariadb.data_dir), "data")
    assert data.stat().st_uid == (Path("/proc", str(info["mariadb"]["pid"])).stat().st_uid)


@pytest.mark.skipif(os.geteuid() != 0, reason="the choice of another OS user is made only by root")
def test_a_folder_the_mysql_user_cannot_reach_runs_the_server_as_root_and_says_why(tmp_path):
    with server_folder("reach") as reachable:
        assert services.mariadb_account(reachable / "mariadb") == services.MariaDBAccount("mysql", "root")
        reachable.chmod(0o700)
        account = services.mariadb_account(reachable / "mariadb")
        assert (account.os_user, account.admin) == ("root", "root")
        assert f"cannot enter {reachable} (mode 0700)" in account.reason


@integration
def test_servers_listen_on_loopback_only(cfg, started):
    for name, port in (("minio", cfg.services.minio.port), ("mariadb", cfg.services.mariadb.port)):
        out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout \
            if shutil.which("ss") else ""
        if out:
            local = [line.split()[3].rsplit(":", 1)[0] for line in out.splitlines()]
            assert set(local) <= {"127.0.0.1", "[::1]"}, (name, out)  # loopback only, never 0.0.0.0


@integration
def test_buckets_exist(cfg, started):
    client = services.s3_client(cfg)
    names = {bucket["Name"] for bucket in client.list_buckets()["Buckets"]}
    assert {"landing", "lake", "exports"} <= names
    client.put_object(Bucket="landing", Key="probe.txt", Body=b"ok")
    assert client.get_object(Bucket="landing", Key="probe.txt")["Body"].read() == b"ok"


@integration
def test_app_user_reaches_database_over_tcp(cfg, started, tmp_path):
    # A table the loader owns (a gold table's staging name): it may create no other (docs/security.md).
    result = _app_query(cfg, tmp_path, "select current_user(); create table if not exists alerts__staging (id int); "
                                       "show databases;")
    assert result.returncode == 0, result.stderr
    out = result.stdout.split()
    user = SecretStore(cfg.secrets_file).get(cfg.mysql.user_secret)
    assert user.startswith(services.APP_USER_PREFIX) and len(user) == len(services.APP_USER_PREFIX) + 8
    assert out[0] == f"{user}@127.0.0.1"
    assert set(out[1:]) == {"information_schema", cfg.mysql.database}  # rights on its database only


@integration
def test_stale_pid_file_while_running_is_repaired(cfg, started):
    before = services.status(cfg)
    dead = subprocess.Popen(["true"])
    dead.wait()
    for pid_file in (Path(before["minio"]["data"]).parent / "minio.pid",
                     Path(before["mariadb"]["data"]).parent / "mysqld.pid"):
        pid_file.write_text(f"{dead.pid}\n")
    after = services.start(cfg, say=lambda line: None)
    assert after["minio"]["pid"] == before["minio"]["pid"]
    assert after["mariadb"]["pid"] == before["mariadb"]["pid"]


@integration
def test_stop_then_start_with_stale_pid_files(cfg, started, tmp_path):
    lines: list[str] = []
    services.stop(cfg, say=lines.append)
    stopped = services.status(cfg)
    assert not stopped["minio"]["running"] and not stopped["mariadb"]["running"]
    minio_pid = Path(stopped["minio"]["data"]).parent / "minio.pid"
    mysqld_pid = Path(stopped["mariadb"]["data"]).parent / "mysqld.pid"
    assert not minio_pid.exists() and not mysqld_pid.exists()
    services.stop(cfg, say=lines.append)  # harmless when not running

    # Stale pid files: a dead pid and a live pid that is not our server (this test process).
    dead = subprocess.Popen(["true"])
    dead.wait()
    minio_pid.write_text(f"{dead.pid}\n")
    mysqld_pid.write_text(f"{os.getpid()}\n")
    restart_lines: list[str] = []
    info = services.start(cfg, say=restart_lines.append)
    assert info["minio"]["running"] and info["mariadb"]["running"]
    assert info["mariadb"]["pid"] != os.getpid()
    assert any("stale pid file" in line for line in restart_lines)
    assert services.status_lines(cfg)[0].startswith("minio: running")

    names = {bucket["Name"] for bucket in services.s3_client(cfg).list_buckets()["Buckets"]}
    assert {"landing", "lake", "exports"} <= names
    result = _app_query(cfg, tmp_path, "select count(*) from alerts__staging")  # data survived the restart
    assert result.returncode == 0, result.stderr


@integration
def test_run_services_prints_one_line_per_step(cfg, started, capsys):
    assert services.run_services(cfg, "status") == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == ["minio", "mariadb"]
    with pytest.raises(services.ConfigError):
        services.run_services(cfg, "restart")


# -- install paths on a fresh machine (fakes; no services needed) -------------
@pytest.fixture
def bare_cfg(tmp_path, monkeypatch):
    monkeypatch.setattr(services, "BIN_DIR", str(tmp_path / "bin"))
    return load_config("dev", environ={
        "ETL__SERVICES__MINIO__DATA_DIR": str(tmp_path / "minio"),
        "ETL__SERVICES__MARIADB__DATA_DIR": str(tmp_path / "mariadb"),
    })


def _executable(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_minio_copied_from_path_when_present(bare_cfg, tmp_path, monkeypatch):
    _executable(tmp_path / "path" / "minio", "exit 0\n")
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    target = services.ensure_minio_binary(bare_cfg, say=lambda line: None)
    assert target == tmp_path / "bin" / "minio" and os.access(target, os.X_OK)


def test_two_workers_installing_minio_at_once_both_get_it(bare_cfg, tmp_path, monkeypatch):
    """Two pytest workers of a fresh clone start their services at once (the second's copy once failed)."""
    _executable(tmp_path / "path" / "minio", "exit 0\n" + "# padding\n" * 200_000)     # a copy takes a while
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    with ThreadPoolExecutor(4) as pool:
        targets = list(pool.map(lambda _: services.ensure_minio_binary(bare_cfg, say=lambda line: None), range(4)))
    assert targets == [tmp_path / "bin" / "minio"] * 4 and os.access(targets[0], os.X_OK)
    assert sorted(p.name for p in (tmp_path / "bin").iterdir()) == [".lock", "minio"]


def test_minio_built_with_go_install_when_absent(bare_cfg, tmp_path, monkeypatch):
    fake_go = _executable(tmp_path / "go" / "go", 'PATH=/usr/bin:/bin\nif [ "$1" = env ]; then exit 0; fi\n'
                          'echo "$@" > "$GOBIN/args"; printf "#!/bin/sh\\n" > "$GOBIN/minio"; chmod +x "$GOBIN/minio"\n')
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(services, "_go_binary", lambda: str(fake_go))
    lines: list[str] = []
    target = services.ensure_minio_binary(bare_cfg, say=lines.append)
    assert os.access(target, os.X_OK)
    assert (tmp_path / "bin" / "args").read_text().split() == ["install", "github.com/minio/minio@latest"]
    assert "3 minutes" in lines[0]


def test_minio_missing_without_go_is_a_clear_error(bare_cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(services, "_go_binary", lambda: None)
    with pytest.raises(services.ServiceError, match="Go is missing"):
        services.ensure_minio_binary(bare_cfg, say=lambda line: None)


def test_mariadb_installed_with_apt_when_absent(bare_cfg, monkeypatch):
    installed = {"server": "/usr/sbin/mariadbd", "install_db": "/usr/bin/mariadb-install-db", "client": "/usr/bin/mariadb"}
    calls: list[list[str]] = []

    def fake_run(argv, env=None, **kwargs):
        calls.append(argv)
        assert env["DEBIAN_FRONTEND"] == "noninteractive"
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(services, "_mariadb_tools",
                        lambda: installed if calls else dict.fromkeys(installed))
    monkeypatch.setattr(services.subprocess, "run", fake_run)
    monkeypatch.setattr(services.os, "geteuid", lambda: 0)
    monkeypatch.setattr(services.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert services.ensure_mariadb_installed(bare_cfg, say=lambda line: None) == installed
    assert calls == [["apt-get", "update"], ["apt-get", "install", "-y", "mariadb-server", "mariadb-client"]]


def test_mariadb_installed_with_sudo_for_another_user(bare_cfg, monkeypatch):
    """A fake apt-get and sudo (the real ones change the machine); the commands are what is checked."""
    installed = {"server": "/usr/sbin/mariadbd", "install_db": "/usr/bin/mariadb-install-db", "client": "/usr/bin/mariadb"}
    calls: list[list[str]] = []

    def fake_run(argv, env=None, **kwargs):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(services, "_mariadb_tools", lambda: installed if calls else dict.fromkeys(installed))
    monkeypatch.setattr(services.subprocess, "run", fake_run)
    monkeypatch.setattr(services.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(services.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert services.ensure_mariadb_installed(bare_cfg, say=lambda line: None) == installed
    assert calls == [["sudo", "apt-get", "update"],
                     ["sudo", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y",
                      "mariadb-server", "mariadb-client"]]


def test_mariadb_missing_without_sudo_names_the_command(bare_cfg, monkeypatch):
    monkeypatch.setattr(services, "_mariadb_tools", lambda: dict.fromkeys(("server", "install_db", "client")))
    monkeypatch.setattr(services.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(services.shutil, "which", lambda name: None if name == "sudo" else f"/usr/bin/{name}")
    with pytest.raises(services.ServiceError, match="sudo apt-get install -y mariadb-server mariadb-client"):
        services.ensure_mariadb_installed(bare_cfg, say=lambda line: None)


def test_sql_string_literal_is_escaped():
    assert services._sql_string("a'b\\c") == "'a''b\\\\c'"
