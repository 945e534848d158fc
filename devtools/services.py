"""Local loopback MinIO and MariaDB for the ``dev`` profile (``etl services start|stop|status``).

Why this exists: the dev profile reads and writes ``s3a://`` buckets and a
MySQL database, and a developer should get both with one idempotent command,
without Docker and without touching any system-wide service. So this module

* installs the binaries when absent (MinIO with ``go install``, MariaDB with
  ``apt-get``, through ``sudo`` for a user who is not root),
* runs MariaDB as the invoking user, or, for root, as Debian's ``mysql`` system
  user (``MariaDBAccount``), never as the OS root when that can be avoided,
* runs each server as a detached process bound to 127.0.0.1 only, with data,
  pid file and log under the configured ``services.*.data_dir`` (``.local/``,
  git-ignored),
* generates the credentials once, keeps them only in the encrypted secret
  store, and hands them to the servers through the environment (MinIO) or SQL
  on stdin (MariaDB), never on a command line and never in output,
* creates the buckets, the database and the application user the jobs expect.

A pid file is trusted only if its pid is alive *and* its command line is our
server on our data directory (Linux ``/proc``); anything else is stale and is
replaced. Each service is guarded by an ``flock`` so two concurrent
``start`` calls cannot launch two servers.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pwd
import re
import secrets
import stat
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from etl.config import PROJECT_ROOT, Config, load_config
from etl.errors import ConfigError, EtlError
from etl.secrets import KEY_ENV, SecretStore, key_file_path, write_new_key_file

HOST = "127.0.0.1"
BUCKETS = ("landing", "lake", "exports")
APP_USER_PREFIX = "etl_"      # + 8 random hex: the user name is a secret too (mysql.user_secret)
READER_USER_PREFIX = "etl_read_"   # the consumers' read-only account (mysql.reader_user_secret)
MINIO_MODULE = "github.com/minio/minio@latest"
BIN_DIR = ".local/bin"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
ACTIONS = ("start", "stop", "status")

Say = Callable[[str], None]

# Children started by this Python process, so they can be reaped (no zombies
# when start and stop run in the same process, e.g. in tests).
_CHILDREN: dict[int, subprocess.Popen] = {}


class ServiceError(EtlError):
    """A local service could not be installed, started or stopped."""


def _print(line: str) -> None:
    print(line, flush=True)


# -- paths -------------------------------------------------------------------
def _show(path: Path) -> str:
    """A path as the user thinks of it: relative to the project root when inside it."""
    try:
        return str(path.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def _minio_paths(cfg: Config) -> dict[str, Path]:
    base = cfg.path(cfg.services.minio.data_dir)
    return {"dir": base, "data": base / "data", "pid": base / "minio.pid", "log": base / "minio.log"}


def _mariadb_paths(cfg: Config) -> dict[str, Path]:
    base = cfg.path(cfg.services.mariadb.data_dir)
    return {
        "dir": base,
        "data": base / "data",
        "pid": base / "mysqld.pid",
        # The server's own pid file: ours (above) is written by this process, as root perhaps, while the
        # server, which may run as another user, writes its own; one file for both would race.
        "server_pid": base / "mariadbd.pid",
        "log": base / "mysqld.log",
        "socket": base / "mysqld.sock",
        # Its own temporary folder: a starting server deletes leftover #sql* files in its tmpdir, which
        # breaks another instance's mariadb-install-db running at the same moment with the shared /tmp.
        "tmp": base / "tmp",
    }


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise start/stop of one service across processes."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- processes ---------------------------------------------------------------
def _argv(pid: int) -> list[str] | None:
    """The command line of a live (non-zombie) process, or None."""
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        _CHILDREN.pop(pid, None)
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return None
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, IndexError):
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _is_minio(cfg: Config) -> Callable[[int], bool]:
    data = str(_minio_paths(cfg)["data"])

    def match(pid: int) -> bool:
        argv = _argv(pid)
        return bool(argv) and Path(argv[0]).name == "minio" and "server" in argv and data in argv

    return match


def _is_mariadb(cfg: Config) -> Callable[[int], bool]:
    datadir = f"--datadir={_mariadb_paths(cfg)['data']}"

    def match(pid: int) -> bool:
        argv = _argv(pid)
        return bool(argv) and Path(argv[0]).name in ("mariadbd", "mysqld") and datadir in argv

    return match


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _find_process(match: Callable[[int], bool]) -> int | None:
    """Our server running without (or with a wrong) pid file, e.g. after the file was lost."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid() and match(int(entry.name)):
            return int(entry.name)
    return None


def _running_pid(pid_file: Path, match: Callable[[int], bool]) -> int | None:
    """The pid of our running server, repairing a stale pid file; None when not running."""
    pid = _read_pid(pid_file)
    if pid is not None and match(pid):
        return pid
    found = _find_process(match)
    if found is not None:
        pid_file.write_text(f"{found}\n")
    elif pid_file.exists():
        pid_file.unlink()
    return found


def _spawn(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a server detached from our session, output appended to its log."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=env, start_new_session=True, close_fds=True, cwd=log.parent,
        )
    _CHILDREN[proc.pid] = proc
    return proc


def _last_log_line(log: Path) -> str:
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return f" (last log line: {lines[-1][:200]})" if lines else ""


def _wait_ready(name: str, ready: Callable[[], bool], proc: subprocess.Popen | None, pid: int | None,
                log: Path, timeout: float = READY_TIMEOUT) -> None:
    """Poll ``ready`` until it holds; fail fast with the log path if the server dies or times out."""
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return
        if proc is not None and proc.poll() is not None:
            _CHILDREN.pop(proc.pid, None)
            raise ServiceError(
                f"{name} exited with code {proc.returncode} while starting; see {log}{_last_log_line(log)}"
            )
        if pid is not None and _argv(pid) is None:
            raise ServiceError(f"{name} (pid {pid}) stopped while starting; see {log}{_last_log_line(log)}")
        if time.monotonic() > deadline:
            raise ServiceError(f"{name} did not become ready within {timeout:.0f}s; see {log}{_last_log_line(log)}")
        time.sleep(0.25)


def _terminate(name: str, pid: int, match: Callable[[int], bool], timeout: float) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL: a clean shutdown when possible, a stop always."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not match(pid):
                _CHILDREN.pop(pid, None)
                return
            time.sleep(0.1)
    raise ServiceError(f"{name} (pid {pid}) did not exit even after SIGKILL")


def _ready_or_stopped(name: str, ready: Callable[[], bool], proc: subprocess.Popen, match: Callable[[int], bool],
                      paths: dict[str, Path], stop_timeout: float) -> None:
    """Wait until the server just started answers; if it never does, stop it and forget its pid file."""
    try:
        _wait_ready(name, ready, proc, None, paths["log"])
    except ServiceError:
        if proc.poll() is None:
            _terminate(name, proc.pid, match, stop_timeout)
        paths["pid"].unlink(missing_ok=True)
        raise


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def _require_free(port: int, key: str) -> None:
    if _port_in_use(port):
        raise ServiceError(f"port {HOST}:{port} is already used by another process; stop it or change {key}")


# -- secrets -----------------------------------------------------------------
def _secret_store(cfg: Config, say: Say) -> SecretStore:
    """The profile's secret store, creating the master key file and the store on first use."""
    if KEY_ENV not in os.environ and not key_file_path().exists():
        path = key_file_path().expanduser().resolve()
        if path.is_relative_to(PROJECT_ROOT.resolve()):
            raise ConfigError(f"master key file {path} must be outside the repository; set ETL_MASTER_KEY_FILE elsewhere")
        write_new_key_file(path)
        say(f"secrets: created master key file {path} (mode 0600, keep it out of the repository)")
    store = SecretStore(cfg.secrets_file, profile=cfg.profile)
    if not cfg.secrets_file.exists():
        store.init()
        say(f"secrets: created {_show(cfg.secrets_file)}")
    return store


def _credential(store: SecretStore, name: str, make: Callable[[], str], say: Say) -> str:
    """The stored value, or a freshly generated one stored under ``name`` (its value never shown)."""
    if name in store.names():
        return store.get(name)
    value = make()
    store.set(name, value)
    say(f"secrets: generated '{name}'")
    return value


def _s3_settings(cfg: Config):
    if cfg.storage.s3 is None:
        raise ConfigError(f"profile '{cfg.profile}' has no storage.s3 section: local services are for the dev profile")
    return cfg.storage.s3


# -- MinIO -------------------------------------------------------------------
def _go_binary() -> str | None:
    return shutil.which("go") or next((p for p in ("/usr/local/go/bin/go",) if os.access(p, os.X_OK)), None)


def _existing_minio() -> str | None:
    """A minio already on this machine (PATH or Go's bin folder), to avoid a 3-minute build."""
    found = shutil.which("minio")
    if found:
        return found
    go = _go_binary()
    if go:
        try:
            out = subprocess.run([go, "env", "GOBIN", "GOPATH"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        for folder in out.split():
            for candidate in (Path(folder) / "minio", Path(folder) / "bin" / "minio"):
                if candidate.is_file() and os.access(candidate, os.X_OK):
                    return str(candidate)
    return None


def ensure_minio_binary(cfg: Config, say: Say = _print) -> Path:
    """``.local/bin/minio``: copied from an existing install, else built with ``go install``."""
    target = cfg.path(BIN_DIR) / "minio"
    if target.is_file() and os.access(target, os.X_OK):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Two test workers of a fresh clone get here at once: one copies (or builds), the other waits for it
    # (both once copied through the same .tmp file, and the second's rename failed).
    with _locked(target.parent):
        if target.is_file() and os.access(target, os.X_OK):
            return target
        return _install_minio_binary(cfg, target, say)


def _install_minio_binary(cfg: Config, target: Path, say: Say) -> Path:
    existing = _existing_minio()
    if existing:
        tmp = target.with_suffix(".tmp")
        shutil.copy2(existing, tmp)
        os.replace(tmp, target)
        say(f"minio: copied {existing} to {_show(target)}")
        return target
    go = _go_binary()
    if go is None:
        raise ServiceError(
            f"minio is not installed and Go is missing: install Go (https://go.dev/dl/) "
            f"or put a minio binary at {target}"
        )
    build_log = _minio_paths(cfg)["dir"] / "build.log"
    build_log.parent.mkdir(parents=True, exist_ok=True)
    say(f"minio: building with `go install {MINIO_MODULE}` into {_show(target.parent)} (takes ~3 minutes)")
    env = dict(os.environ, GOBIN=str(target.parent))
    with open(build_log, "wb") as out:
        result = subprocess.run([go, "install", MINIO_MODULE], env=env, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0 or not target.exists():
        raise ServiceError(f"building minio failed (exit {result.returncode}); see {build_log}{_last_log_line(build_log)}")
    say(f"minio: built {_show(target)}")
    return target


def _minio_live(port: int) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    try:
        with opener.open(f"http://{HOST}:{port}/minio/health/live", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def s3_client(cfg: Config, store: SecretStore | None = None):
    """A boto3 S3 client for the local MinIO, authenticated with the stored root credentials."""
    import boto3
    from botocore.config import Config as BotoConfig

    s3 = _s3_settings(cfg)
    from etl.retry import log_s3_retries, s3_retry_config

    store = store or SecretStore(cfg.secrets_file, profile=cfg.profile)
    client = boto3.client(
        "s3",
        endpoint_url=f"http://{HOST}:{cfg.services.minio.port}",
        aws_access_key_id=store.get(s3.access_key_secret),
        aws_secret_access_key=store.get(s3.secret_key_secret),
        region_name=s3.region or "us-east-1",
        config=BotoConfig(s3={"addressing_style": "path"}, proxies={}, retries=s3_retry_config(cfg),
                          connect_timeout=5, read_timeout=30),
    )
    return log_s3_retries(client, cfg.retries.s3_max_attempts)


def _ensure_buckets(cfg: Config, store: SecretStore, say: Say) -> None:
    client = s3_client(cfg, store)
    present = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
    created = [name for name in BUCKETS if name not in present]
    for name in created:
        try:
            client.create_bucket(Bucket=name)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass
    say(f"minio: buckets {', '.join(BUCKETS)} ready" + (f" (created {', '.join(created)})" if created else ""))


def _ensure_stage_users(cfg: Config, store: SecretStore, say: Say) -> None:
    """One MinIO user per credential group in ``storage.s3.stage_credentials``, each with only its
    stage's policy (etl/access.py); keys generated once into the secret store, never shown."""
    from minio import MinioAdmin
    from minio.credentials import StaticProvider

    from etl.access import POLICY_PREFIX, stage_policies

    s3 = _s3_settings(cfg)
    if not s3.stage_credentials:
        return
    admin = MinioAdmin(endpoint=f"{HOST}:{cfg.services.minio.port}", secure=False,
                       credentials=StaticProvider(store.get(s3.access_key_secret), store.get(s3.secret_key_secret)))
    policies = stage_policies(cfg)
    for group, identity in sorted(s3.stage_credentials.items()):
        policy = f"{POLICY_PREFIX}{group}"
        access = _credential(store, identity.access_key_secret, lambda: f"etl{group}{secrets.token_hex(8)}", say)
        secret = _credential(store, identity.secret_key_secret, lambda: secrets.token_urlsafe(24), say)
        admin.policy_add(policy, policy=policies[policy])
        admin.user_add(access, secret)
        try:
            admin.attach_policy([policy], user=access)
        except Exception as exc:  # minio.error.MinioAdminException: "already applied" on a rerun is fine
            if "already" not in str(exc).lower():
                raise ServiceError(f"minio: attaching policy {policy} to the {group} user failed: "
                                   f"{str(exc).replace(access, '***')[:200]}") from None
    say(f"minio: users for {', '.join(sorted(s3.stage_credentials))} ready, each with its stage's policy "
        f"({', '.join(POLICY_PREFIX + g for g in sorted(s3.stage_credentials))})")


def _start_minio(cfg: Config, store: SecretStore, say: Say) -> None:
    settings, paths, s3 = cfg.services.minio, _minio_paths(cfg), _s3_settings(cfg)
    address, console = f"{HOST}:{settings.port}", f"{HOST}:{settings.console_port}"
    match = _is_minio(cfg)
    with _locked(paths["dir"]):
        stale = paths["pid"].exists()
        pid = _running_pid(paths["pid"], match)
        if pid is not None:
            _wait_ready("minio", lambda: _minio_live(settings.port), None, pid, paths["log"])
            say(f"minio: already running (pid {pid}) on {address}")
        else:
            if stale:
                say("minio: removed stale pid file")
            binary = ensure_minio_binary(cfg, say)
            _require_free(settings.port, "services.minio.port")
            _require_free(settings.console_port, "services.minio.console_port")
            user = _credential(store, s3.access_key_secret, lambda: secrets.token_urlsafe(12), say)
            password = _credential(store, s3.secret_key_secret, lambda: secrets.token_urlsafe(24), say)
            env = {k: v for k, v in os.environ.items() if not k.startswith("MINIO_")}
            env.update(MINIO_ROOT_USER=user, MINIO_ROOT_PASSWORD=password, MINIO_UPDATE="off")
            paths["data"].mkdir(parents=True, exist_ok=True)
            # --quiet: no startup banner, which in some MinIO releases prints the root credentials.
            proc = _spawn([str(binary), "server", "--quiet", "--address", address,
                           "--console-address", console, str(paths["data"])], paths["log"], env)
            paths["pid"].write_text(f"{proc.pid}\n")
            _ready_or_stopped("minio", lambda: _minio_live(settings.port), proc, match, paths, 5.0)
            say(f"minio: started on {address} (pid {proc.pid}, console {console}, data {_show(paths['data'])})")
    _ensure_buckets(cfg, store, say)
    _ensure_stage_users(cfg, store, say)


# -- MariaDB -----------------------------------------------------------------
def _first(*candidates: str | None) -> str | None:
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def _mariadb_tools() -> dict[str, str | None]:
    return {
        "server": _first("/usr/sbin/mariadbd", shutil.which("mariadbd"), "/usr/sbin/mysqld", shutil.which("mysqld")),
        "install_db": _first(shutil.which("mariadb-install-db"), shutil.which("mysql_install_db")),
        "client": _first(shutil.which("mariadb"), shutil.which("mysql")),
    }


SERVER_OS_USER = "mysql"        # Debian's mariadb-server creates it; the server runs as it when we are root


@dataclass(frozen=True)
class MariaDBAccount:
    """Who the dev server runs as, and the MariaDB account our SQL uses over the socket.

    Socket authentication maps the OS user connecting to the MariaDB account of the same name, so
    the admin account is ``root`` when we are root and the invoking user otherwise
    (``mariadb-install-db --auth-root-socket-user``). MariaDB refuses to run as root unless told to;
    run by root, the server runs as ``mysql`` instead (the folder is handed to it), unless that user
    cannot reach the folder (a parent such as root's 0700 home): then it runs as root and says why."""
    os_user: str          # the server process's OS user
    admin: str            # the MariaDB account with socket authentication our SQL connects as
    reason: str = ""      # why the server runs as root, when it must


def _unreachable_parent(folder: Path, uid: int, gid: int) -> Path | None:
    """The first folder on the way to ``folder`` that the OS user ``uid``/``gid`` cannot enter."""
    for parent in reversed([folder, *folder.parents]):
        if not parent.exists():
            return None
        info = parent.stat()
        bit = (stat.S_IXUSR if info.st_uid == uid else stat.S_IXGRP if info.st_gid == gid else stat.S_IXOTH)
        if not info.st_mode & bit:
            return parent
    return None


def mariadb_account(folder: Path) -> MariaDBAccount:
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid()).pw_name
        return MariaDBAccount(me, me)
    try:
        server = pwd.getpwnam(SERVER_OS_USER)
    except KeyError:
        return MariaDBAccount("root", "root", f"there is no OS user {SERVER_OS_USER}")
    blocked = _unreachable_parent(folder.resolve(), server.pw_uid, server.pw_gid)
    if blocked is not None:
        return MariaDBAccount("root", "root", f"the OS user {SERVER_OS_USER} cannot enter {blocked} "
                              f"(mode {stat.S_IMODE(blocked.stat().st_mode):04o}); give it o+x or move "
                              "services.mariadb.data_dir to a folder it can reach")
    return MariaDBAccount(SERVER_OS_USER, "root")


def _hand_over(folder: Path, os_user: str) -> None:
    """The server's folder (data, temporary files, log, socket, pid) owned by the user it runs as."""
    if os.geteuid() != 0 or os_user == "root":
        return
    account = pwd.getpwnam(os_user)
    for path in (folder, *folder.rglob("*")):
        if not path.is_symlink():
            os.chown(path, account.pw_uid, account.pw_gid)


def ensure_mariadb_installed(cfg: Config, say: Say = _print) -> dict[str, str]:
    """Paths of mariadbd, mariadb-install-db and the client, installing the Debian packages if needed."""
    tools = _mariadb_tools()
    if all(tools.values()):
        return tools  # type: ignore[return-value]
    install_lock = cfg.path(BIN_DIR)
    install_lock.mkdir(parents=True, exist_ok=True)
    with _locked(install_lock):          # as ensure_minio_binary: one apt-get at a time (dpkg's own lock fails)
        tools = _mariadb_tools()
        if all(tools.values()):
            return tools  # type: ignore[return-value]
        return _install_mariadb(cfg, say)


def _install_mariadb(cfg: Config, say: Say) -> dict[str, str]:
    sudo = _sudo_prefix()
    prefix = "sudo " if sudo is None or sudo else ""
    command = (f"{prefix}apt-get update && {prefix}env DEBIAN_FRONTEND=noninteractive "
               "apt-get install -y mariadb-server mariadb-client")
    if not shutil.which("apt-get"):
        raise ServiceError("MariaDB is not installed and this is not a Debian-like system (no apt-get): "
                           "install mariadb-server and mariadb-client with the system's package manager")
    if sudo is None:
        raise ServiceError("MariaDB is not installed; install it with `sudo apt-get install -y mariadb-server "
                           "mariadb-client` (this user is not root and has no sudo)")
    log = _mariadb_paths(cfg)["dir"] / "apt.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    how = "apt-get" if not sudo else "sudo apt-get"
    say(f"mariadb: installing mariadb-server and mariadb-client with {how} (about a minute, log {_show(log)})")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # sudo asks for its password on the terminal when it needs one (stdin stays the terminal then).
    stdin = None if sudo and sys.stdin.isatty() else subprocess.DEVNULL
    with open(log, "ab") as out:
        for argv in ([*sudo, "apt-get", "update"],
                     [*sudo, *(["env", "DEBIAN_FRONTEND=noninteractive"] if sudo else []),
                      "apt-get", "install", "-y", "mariadb-server", "mariadb-client"]):
            if subprocess.run(argv, env=env, stdin=stdin, stdout=out, stderr=subprocess.STDOUT).returncode:
                raise ServiceError(f"`{' '.join(argv)}` failed; see {log}{_last_log_line(log)}; "
                                   f"or install it yourself: `{command}`")
    tools = _mariadb_tools()
    missing = [name for name, path in tools.items() if not path]
    if missing:
        raise ServiceError(f"MariaDB packages installed but {', '.join(missing)} not found; see {log}")
    return tools  # type: ignore[return-value]


def _sudo_prefix() -> list[str] | None:
    """``[]`` as root, ``["sudo"]`` for another user with sudo, None without a way to install packages."""
    if os.geteuid() == 0:
        return []
    return ["sudo"] if shutil.which("sudo") else None


def _root_sql(client: str, sock: Path, sql: str, hide: tuple[str, ...] = (), timeout: float = 30,
              admin: str | None = None) -> subprocess.CompletedProcess:
    """Run SQL as the MariaDB admin account over the unix socket (socket auth: no password), SQL on stdin."""
    admin = admin or mariadb_account(sock.parent).admin
    result = subprocess.run(
        [client, "--no-defaults", f"--socket={sock}", f"--user={admin}", "--batch", "--skip-column-names"],
        input=sql, capture_output=True, text=True, timeout=timeout,
    )
    if result.returncode:
        message = (result.stderr or result.stdout).strip()
        for value in hide:
            message = message.replace(value, "***")
        raise ServiceError(f"mariadb: SQL as root failed: {message[:300]}")
    return result


def _socket_answers(client: str, sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        return subprocess.run(
            [client, "--no-defaults", f"--socket={sock}", f"--user={mariadb_account(sock.parent).admin}",
             "--connect-timeout=2", "-e", "select 1"],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=10,
        ).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _provision_database(cfg: Config, store: SecretStore, client: str, sock: Path, say: Say) -> None:
    """Database (utf8mb4) and the app user with the stored password and rights on that database only."""
    database = cfg.mysql.database
    if not re.fullmatch(r"[A-Za-z0-9_$]{1,64}", database):
        raise ConfigError(f"mysql.database '{database}' must be letters, digits, '_' or '$' (at most 64)")
    user = _credential(store, cfg.mysql.user_secret, lambda: APP_USER_PREFIX + secrets.token_hex(4), say)
    if not re.fullmatch(r"[A-Za-z0-9_]{1,80}", user):
        raise ConfigError(f"secret '{cfg.mysql.user_secret}' must be a plain user name (letters, digits, '_')")
    password = _credential(store, cfg.mysql.password_secret, lambda: secrets.token_urlsafe(24), say)
    reader = _credential(store, cfg.mysql.reader_user_secret, lambda: READER_USER_PREFIX + secrets.token_hex(4), say)
    if not re.fullmatch(r"[A-Za-z0-9_]{1,80}", reader):
        raise ConfigError(f"secret '{cfg.mysql.reader_user_secret}' must be a plain user name (letters, digits, '_')")
    reader_password = _credential(store, cfg.mysql.reader_password_secret, lambda: secrets.token_urlsafe(24), say)
    from etl.export.mysql import SCHEMA_MIGRATIONS_DDL, account_grants, pending_migration_statements

    hide = (password, _sql_string(password), reader_password, _sql_string(reader_password))
    # The schema first, as the admin: every migration not yet recorded in schema_migrations (a migration
    # may rename or replace what the loader may not touch, V005's etl_runs), and a grant to the consumer
    # or on a view needs its object to exist.
    head = [f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;",
            f"USE `{database}`;", f"{SCHEMA_MIGRATIONS_DDL};"]
    done = _root_sql(client, sock, "\n".join([*head, "SELECT version FROM schema_migrations;"]) + "\n").stdout.split()
    pending = pending_migration_statements(done)
    statements = [*head, *(f"{statement};" for statement in pending)]
    for host in (HOST, "localhost"):
        account, consumer = f"'{user}'@'{host}'", f"'{reader}'@'{host}'"
        statements += [
            f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {_sql_string(password)};",
            f"ALTER USER {account} IDENTIFIED BY {_sql_string(password)};",
            f"CREATE USER IF NOT EXISTS {consumer} IDENTIFIED BY {_sql_string(reader_password)};",
            f"ALTER USER {consumer} IDENTIFIED BY {_sql_string(reader_password)};",
            # Table by table, only what each account uses (etl/export/mysql.py account_grants): first
            # revoke whatever an older setup granted (a schema-wide DROP reached the audit tables).
            f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {account};",
            f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {consumer};",
            *account_grants(database, account, consumer),
        ]
    _root_sql(client, sock, "\n".join(statements) + "\n", hide=hide)
    applied = sum(1 for statement in pending if statement.startswith("INSERT INTO schema_migrations"))
    say(f"mariadb: database {database} ({applied} migration(s) applied), its loader (secret "
        f"'{cfg.mysql.user_secret}': the gold tables, "
        f"append-only audit tables) and its read-only consumer (secret '{cfg.mysql.reader_user_secret}') ready")


def _start_mariadb(cfg: Config, store: SecretStore, say: Say) -> None:
    settings, paths = cfg.services.mariadb, _mariadb_paths(cfg)
    address, sock = f"{HOST}:{settings.port}", paths["socket"]
    match = _is_mariadb(cfg)
    with _locked(paths["dir"]):
        tools = ensure_mariadb_installed(cfg, say)
        stale = paths["pid"].exists()
        pid = _running_pid(paths["pid"], match)
        if pid is not None:
            _wait_ready("mariadb", lambda: _socket_answers(tools["client"], sock), None, pid, paths["log"])
            say(f"mariadb: already running (pid {pid}) on {address}")
        else:
            if stale:
                say("mariadb: removed stale pid file")
            sock.unlink(missing_ok=True)
            _require_free(settings.port, "services.mariadb.port")
            paths["tmp"].mkdir(parents=True, exist_ok=True)
            account = mariadb_account(paths["dir"])
            if account.reason:
                say(f"mariadb: the server runs as root: {account.reason}")
            if not (paths["data"] / "mysql").is_dir():
                paths["data"].mkdir(parents=True, exist_ok=True)
                init_log = paths["dir"] / "install-db.log"
                say(f"mariadb: initialising {_show(paths['data'])}")
                _hand_over(paths["dir"], account.os_user)
                with open(init_log, "wb") as out:
                    result = subprocess.run(
                        [tools["install_db"], "--no-defaults", f"--datadir={paths['data']}",
                         f"--user={account.os_user}", f"--tmpdir={paths['tmp']}",
                         "--auth-root-authentication-method=socket", "--skip-test-db",
                         # Another user than root administers over the socket as itself.
                         *([f"--auth-root-socket-user={account.admin}"] if account.admin != "root" else [])],
                        stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    )
                if result.returncode:
                    raise ServiceError(f"mariadb-install-db failed (exit {result.returncode}); see {init_log}")
            paths["log"].touch()
            _hand_over(paths["dir"], account.os_user)
            proc = _spawn([
                tools["server"], "--no-defaults", f"--datadir={paths['data']}", f"--socket={sock}",
                f"--tmpdir={paths['tmp']}",
                f"--port={settings.port}", f"--bind-address={HOST}", f"--pid-file={paths['server_pid']}",
                f"--log-error={paths['log']}", f"--user={account.os_user}", "--skip-name-resolve",
            ], paths["log"])
            paths["pid"].write_text(f"{proc.pid}\n")
            _ready_or_stopped("mariadb", lambda: _socket_answers(tools["client"], sock), proc, match, paths, 10.0)
            say(f"mariadb: started on {address} (pid {proc.pid}, data {_show(paths['data'])})")
        _provision_database(cfg, store, tools["client"], sock, say)


# -- public API --------------------------------------------------------------
def start(cfg: Config, say: Say = _print) -> dict[str, dict]:
    """Install if needed and start both services; harmless when they already run. Returns ``status``."""
    store = _secret_store(cfg, say)
    _start_minio(cfg, store, say)
    _start_mariadb(cfg, store, say)
    return status(cfg)


def stop(cfg: Config, say: Say = _print) -> None:
    """Stop both services (SIGTERM, then SIGKILL after a timeout) and remove their pid files."""
    for name, paths, match, timeout in (
        ("mariadb", _mariadb_paths(cfg), _is_mariadb(cfg), STOP_TIMEOUT),
        ("minio", _minio_paths(cfg), _is_minio(cfg), STOP_TIMEOUT),
    ):
        if not paths["dir"].exists():
            say(f"{name}: not running")
            continue
        with _locked(paths["dir"]):
            pid = _running_pid(paths["pid"], match)
            if pid is None:
                say(f"{name}: not running")
                continue
            _terminate(name, pid, match, timeout)
            paths["pid"].unlink(missing_ok=True)
            if "socket" in paths:
                paths["socket"].unlink(missing_ok=True)
            say(f"{name}: stopped (pid {pid})")


def status(cfg: Config) -> dict[str, dict]:
    """For each service: running, pid, address, data directory and log (read-only, no side effects)."""
    minio, mariadb = _minio_paths(cfg), _mariadb_paths(cfg)
    result = {}
    for name, paths, match, extra in (
        ("minio", minio, _is_minio(cfg),
         {"address": f"{HOST}:{cfg.services.minio.port}", "console": f"{HOST}:{cfg.services.minio.console_port}"}),
        ("mariadb", mariadb, _is_mariadb(cfg),
         {"address": f"{HOST}:{cfg.services.mariadb.port}", "socket": str(mariadb["socket"])}),
    ):
        pid = _read_pid(paths["pid"])
        if pid is None or not match(pid):
            pid = _find_process(match)
        result[name] = {"running": pid is not None, "pid": pid, **extra,
                        "data": str(paths["data"]), "log": str(paths["log"])}
    return result


def status_lines(cfg: Config, info: dict[str, dict] | None = None) -> list[str]:
    """``status`` as one human line per service."""
    lines = []
    for name, service in (info or status(cfg)).items():
        if service["running"]:
            lines.append(f"{name}: running (pid {service['pid']}) on {service['address']} "
                         f"(data {_show(Path(service['data']))})")
        else:
            lines.append(f"{name}: not running")
    return lines


def run_services(cfg: Config, action: str, say: Say = _print) -> int:
    """Entry point for the CLI: ``start``/``stop``/``status``; returns an exit code (status: 1 if any is down)."""
    if action not in ACTIONS:
        raise ConfigError(f"unknown services action '{action}': choose one of {', '.join(ACTIONS)}")
    if action == "start":
        start(cfg, say)
        s3 = _s3_settings(cfg)
        if s3.endpoint.rstrip("/") != f"http://{HOST}:{cfg.services.minio.port}":
            say(f"warning: storage.s3.endpoint is {s3.endpoint}, but minio listens on {HOST}:{cfg.services.minio.port}")
        if cfg.mysql.port != cfg.services.mariadb.port or cfg.mysql.host not in (HOST, "localhost"):
            say(f"warning: mysql is {cfg.mysql.host}:{cfg.mysql.port}, but mariadb listens on {HOST}:{cfg.services.mariadb.port}")
        return 0
    if action == "stop":
        stop(cfg, say)
        return 0
    info = status(cfg)
    for line in status_lines(cfg, info):
        say(line)
    return 0 if all(service["running"] for service in info.values()) else 1


def main(argv: list[str] | None = None) -> int:
    """``python -m devtools.services start|stop|status [--profile dev]``."""
    parser = argparse.ArgumentParser(prog="etl services", description=__doc__.splitlines()[0].replace("``", ""),
                                     allow_abbrev=False)
    parser.add_argument("action", choices=ACTIONS, help="start, stop, or status (exit 1 when a server is down)")
    parser.add_argument("--profile", default=os.environ.get("ETL_PROFILE") or "dev",
                        help="config profile in conf/ (default: $ETL_PROFILE, else dev)")
    args = parser.parse_args(argv)
    try:
        return run_services(load_config(args.profile), args.action)
    except EtlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
