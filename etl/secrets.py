"""Credentials encrypted at rest, decrypted in memory by the stage that needs them.

File format (JSON, ciphertext only, safe to commit)::

    {"format": 2, "profile": "<profile>", "key_id": "<first 16 hex of sha256(key)>",
     "secrets": {"<name>": "<base64(nonce || AES-256-GCM ciphertext+tag)>"}}

Each value has a fresh 96-bit nonce and, as associated data, the file's profile
and the secret's name (``etl-secret\0<profile>\0<name>``): a value moved under
another name, or copied into another profile's file, fails authentication, and
a whole file copied to another profile's path is refused by its ``profile``
(which every value authenticates). Format 1 (before the binding: the name alone
as associated data, no ``profile``) is still read; the next write (``etl
secrets set``, ``rotate``, or ``etl secrets upgrade``) rewrites it as format 2
under the profile it is opened for. The 256-bit
master key never sits beside the file: it comes from ``ETL_MASTER_KEY``
(base64) or a key file outside the repository (``ETL_MASTER_KEY_FILE``,
default ``~/.config/etl/master.key``, mode 0600; a key file other users can
read is refused, and so is one inside the repository, when it is written and
whenever it is read). ``key_id`` only lets a wrong key be named in a friendly
message; the cipher's tag is what refuses a wrong key or a changed byte.

Every failure is a ``SecretError`` (exit code 3) whose text is one line saying
which problem it is (no key, wrong key, tampered or unreadable file, missing
secret) and what to do; no message ever holds a value.

Built on ``cryptography``'s AESGCM; only the small file format is our own.
Production may replace the file with a secrets manager: anything with
``names()``, ``get(name)``, ``verify(names)`` and ``problem(name, state)`` can
stand in for ``SecretStore`` (see docs/security.md). ``FolderSecrets`` is one:
the secrets a container platform mounts as files (``secrets.source: folder``,
Docker's ``/run/secrets``), which the compose stack uses so that its
credentials live once, in ``docker/.env``, and no host tool has to encrypt a
second copy. ``open_secrets(cfg)`` gives the store a profile configures.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from etl.errors import SecretError

if TYPE_CHECKING:
    from etl.config import Config

FORMAT_VERSION = 2            # written; FORMAT_UNBOUND files (values bound to their name only) are still read
FORMAT_UNBOUND = 1
KEY_ENV = "ETL_MASTER_KEY"
KEY_FILE_ENV = "ETL_MASTER_KEY_FILE"
DEFAULT_KEY_FILE = Path("~/.config/etl/master.key")
# Names are stored in clear in the file: identifiers only, so a value typed as
# ``NAME=value`` can never end up there (nor in a message).
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}")

OK, MISSING, FAILED = "ok", "missing", "failed authentication"

log = logging.getLogger(__name__)
_warned_unbound: set[Path] = set()


def associated_data(profile: str | None, name: str) -> bytes:
    """What each value's GCM tag authenticates besides the value: the profile and the name (format 2),
    or the name alone (format 1, ``profile`` None). Neither may hold a NUL (names are identifiers,
    profiles file names), so the encoding is unambiguous."""
    if profile is None:
        return name.encode()
    return b"etl-secret\0" + profile.encode() + b"\0" + name.encode()


# -- the master key ------------------------------------------------------------
def key_file_path() -> Path:
    return Path(os.environ.get(KEY_FILE_ENV, str(DEFAULT_KEY_FILE))).expanduser()


def pending_key_path(path: Path | None = None) -> Path:
    """Where ``etl secrets rotate`` keeps the new key until it replaces the old one."""
    path = path or key_file_path()
    return path.with_name(path.name + ".new")


def key_source() -> str:
    """Where ``load_master_key`` takes the key from, for messages."""
    return f"environment variable {KEY_ENV}" if KEY_ENV in os.environ else f"key file {key_file_path()}"


def key_configured() -> bool:
    """True when a key is set or a key file exists (valid or not)."""
    return KEY_ENV in os.environ or key_file_path().exists()


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def _decode_key(raw: str, source: str, fix: str) -> bytes:
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise SecretError(f"master key in {source} is not 32 bytes of base64; {fix}")
    return key


def _read_key_file(path: Path) -> bytes:
    ensure_outside_repository(path)     # also one put there by hand, or an old one: refused on every read
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise SecretError(f"key file {path} can be read by other users (mode {mode:04o}): "
                              f"run chmod 600 {path}")
        raw = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"cannot read key file {path} ({getattr(exc, 'strerror', None) or 'not text'}); "
                          f"check the path in {KEY_FILE_ENV}") from None
    return _decode_key(raw, f"key file {path}",
                       "restore it from where you keep a copy (it cannot be recreated: a new key opens no existing file)")


def load_master_key() -> bytes:
    """The master key from the environment or the key file, or a SecretError saying how to get one."""
    raw = os.environ.get(KEY_ENV)
    if raw is not None:
        return _decode_key(raw, f"environment variable {KEY_ENV}",
                           "set it to the key the secrets file was written with (32 random bytes, base64)")
    path = key_file_path()
    if not path.exists():
        raise SecretError(f"no master key: set {KEY_ENV} or create {path} with `etl secrets init` "
                          f"(or point {KEY_FILE_ENV} at the key file)")
    return _read_key_file(path)


def ensure_outside_repository(path: Path) -> None:
    """A key file inside the project would sit beside the ciphertext (and could be committed)."""
    from etl.config import PROJECT_ROOT

    if path.expanduser().resolve().is_relative_to(PROJECT_ROOT.resolve()):
        raise SecretError(f"master key file {path} must be outside the repository; "
                          f"set {KEY_FILE_ENV} to a path elsewhere (default {DEFAULT_KEY_FILE})")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, text: str, mode: int) -> None:
    """Write ``text`` to a temporary file beside ``path``, flush it to disk, rename it over ``path``.

    A crash leaves either the old file or the new one, never a partial one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _write_key(path: Path, key: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _atomic_write(path, base64.b64encode(key).decode() + "\n", 0o600)


def write_new_key_file(path: Path | None = None) -> tuple[Path, bytes]:
    """Create a fresh random key file readable by its owner only (0600), outside the repository."""
    path = path or key_file_path()
    ensure_outside_repository(path)
    key = AESGCM.generate_key(bit_length=256)
    _write_key(path, key)
    return path, key


def validate_name(name: str | None) -> None:
    if not NAME_PATTERN.fullmatch(name or ""):
        # the name is not repeated: it may hold a value typed by mistake (NAME=value)
        raise SecretError("a secret name is letters, digits, '_', '.' or '-' (at most 128, not starting "
                          "with a digit); the value is never given on the command line")


# -- which secrets the configuration refers to -------------------------------------
def referenced_secrets(cfg: Config, stages: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Secret name -> the config keys that name it, for the stages named ``stages`` (None: every stage).

    Stages are those of ``etl run`` (ingest, silver, gold, export) plus export_mysql and
    export_excel for ``etl export`` and restore for ``etl rollback`` (etl/run/stages.py). When
    ``storage.s3`` is set each stage needs the object-store identity it signs in with
    (``storage.s3.stage_credentials.<identity>``, else the default pair); the MySQL user and
    password serve the stages that sign in to MySQL when ``mysql.enabled``.
    """
    from etl.run.stages import every_stage

    wanted = None if stages is None else set(stages)
    refs: dict[str, list[str]] = {}

    def add(name: str, key: str, *used_by: str) -> None:
        if (wanted is None or wanted & set(used_by)) and key not in refs.get(name, []):
            refs.setdefault(name, []).append(key)

    s3 = cfg.storage.s3
    if s3 is not None:
        # The default pair: `etl services`, `etl generate`, `etl upload`, and any stage without its own.
        add(s3.access_key_secret, "storage.s3.access_key_secret", "housekeeping")
        add(s3.secret_key_secret, "storage.s3.secret_key_secret", "housekeeping")
        for stage in every_stage():
            own = stage.identity in s3.stage_credentials
            prefix = f"storage.s3.stage_credentials.{stage.identity}." if own else "storage.s3."
            identity = s3.identity(stage.identity)
            for key, name in (("access_key_secret", identity.access_key_secret),
                              ("secret_key_secret", identity.secret_key_secret)):
                add(name, prefix + key, stage.name)
        # Every stage's run takes the run lock and writes ops/runs as the run identity (etl/access.py).
        if "run" in s3.stage_credentials:
            run = s3.stage_credentials["run"]
            for key, name in (("access_key_secret", run.access_key_secret),
                              ("secret_key_secret", run.secret_key_secret)):
                add(name, f"storage.s3.stage_credentials.run.{key}", *(stage.name for stage in every_stage()))
    if cfg.mysql.enabled:
        mysql_users = [stage.name for stage in every_stage() if stage.mysql]
        add(cfg.mysql.user_secret, "mysql.user_secret", *mysql_users)
        add(cfg.mysql.password_secret, "mysql.password_secret", *mysql_users)
        # The SQL consumers' read-only account: no stage uses it; stored beside the others.
        add(cfg.mysql.reader_user_secret, "mysql.reader_user_secret", "consumer")
        add(cfg.mysql.reader_password_secret, "mysql.reader_password_secret", "consumer")
    return refs


# -- the encrypted file ----------------------------------------------------------------
class SecretStore:
    """One encrypted secrets file; values are decrypted one at a time, on demand."""

    def __init__(self, path: Path | str, key: bytes | None = None, profile: str | None = None):
        self.path = Path(path)
        self._key = key
        self._key_given = key is not None
        self.profile = profile
        self._bound_profile: str | None = profile   # the profile the values are bound to, once read

    # -- messages ----------------------------------------------------------
    def _cli(self, command: str) -> str:
        return f"`etl secrets {command}" + (f" --profile {self.profile}`" if self.profile else "`")

    def problem(self, name: str, state: str) -> str:
        """The one-line message for a secret that is missing or fails authentication."""
        if state == MISSING:
            return f"secret '{name}' is missing from {self.path}; add it with {self._cli(f'set {name}')}"
        bound = f"profile '{self._bound_profile}' and " if self._bound_profile else ""
        return (f"secret '{name}' in {self.path} failed authentication: the file was tampered with or damaged, "
                f"or the value was not encrypted for {bound}this name (copied from another profile's file or "
                f"from under another name); restore the file from a backup or version control, or store the "
                f"value again with {self._cli(f'set {name}')}")

    def _wrong_key(self, file_key_id: str | None, key: bytes) -> SecretError:
        pending = pending_key_path()
        hint = ""
        if file_key_id is not None and pending.exists():
            try:
                pending_id = _key_id(_read_key_file(pending))
            except (OSError, SecretError):
                pending_id = None
            if pending_id == file_key_id:
                hint = (f" (it is under the new key of an `etl secrets rotate` in {pending}: "
                        + (f"put that key into {KEY_ENV}, then delete the file)" if KEY_ENV in os.environ
                           else f"rerun {self._cli('rotate')} to finish the rotation)"))
        where = "the given key" if self._key_given else key_source()
        return SecretError(
            f"wrong master key for {self.path}: it was encrypted under key {file_key_id}, {where} is key "
            f"{_key_id(key)}; use the key it was written with{hint or f' ({KEY_ENV} or {KEY_FILE_ENV})'}")

    # -- reading -----------------------------------------------------------
    def _document(self) -> dict:
        if not self.path.exists():
            raise SecretError(f"secrets file {self.path} does not exist; create it with {self._cli('init')}")
        try:
            doc = json.loads(self.path.read_text())
            assert doc["format"] in (FORMAT_UNBOUND, FORMAT_VERSION) and isinstance(doc["secrets"], dict)
            assert all(isinstance(v, str) for v in doc["secrets"].values())
            if doc["format"] == FORMAT_VERSION:
                assert isinstance(doc["profile"], str) and doc["profile"] and "\0" not in doc["profile"]
        except (ValueError, KeyError, AssertionError, TypeError, UnicodeDecodeError):
            raise SecretError(f"secrets file {self.path} is not a valid secrets file (tampered or truncated); "
                              f"restore it from a backup or version control") from None
        if doc["format"] == FORMAT_UNBOUND:
            self._bound_profile = None
            if self.path not in _warned_unbound:
                _warned_unbound.add(self.path)
                log.warning("secrets file %s is in format 1: its values are not bound to a profile (one copied "
                            "from another profile's file would decrypt); %s rewrites it bound", self.path,
                            self._cli("upgrade") if self.profile else "`etl secrets upgrade --profile P`")
        elif self.profile is not None and doc["profile"] != self.profile:
            raise SecretError(f"secrets file {self.path} belongs to profile '{doc['profile']}', not "
                              f"'{self.profile}': a secrets file is bound to its profile, a copy of another "
                              f"profile's file does not open; create this profile's own with "
                              f"{self._cli('init')} and `etl secrets set` each value")
        else:
            self._bound_profile = doc["profile"]
        return doc

    @staticmethod
    def _binding(doc: dict) -> str | None:
        """The profile the file's values are bound to (None: format 1, bound to their name only)."""
        return doc["profile"] if doc["format"] == FORMAT_VERSION else None

    def _profile_to_write(self, doc: dict | None) -> str:
        """The profile a rewrite binds the values to: the one the store is opened for, else the file's."""
        profile = self.profile or (self._binding(doc) if doc else None)
        if not profile:
            raise SecretError(f"secrets file {self.path}: the profile to bind its values to is not known; use "
                              f"`etl secrets ... --profile P`")
        return profile

    def key(self) -> bytes:
        if self._key is None:
            self._key = load_master_key()
        return self._key

    def key_id(self) -> str | None:
        """The id of the key the file was written under (not a secret: a hash prefix)."""
        return self._document().get("key_id")

    def names(self) -> list[str]:
        return sorted(self._document()["secrets"])

    def _checked(self) -> tuple[dict[str, str], bytes, str | None]:
        """The file's values, the key, and the profile the values are bound to (None: format 1)."""
        doc = self._document()
        key = self.key()
        if doc.get("key_id") != _key_id(key):
            raise self._wrong_key(doc.get("key_id"), key)
        return doc["secrets"], key, self._binding(doc)

    @staticmethod
    def _decrypt(name: str, blob_b64: str, key: bytes, profile: str | None) -> str | None:
        try:
            blob = base64.b64decode(blob_b64, validate=True)
            return AESGCM(key).decrypt(blob[:12], blob[12:], associated_data(profile, name)).decode()
        except (InvalidTag, ValueError):   # UnicodeDecodeError is a ValueError
            return None

    def get(self, name: str) -> str:
        secrets, key, profile = self._checked()
        if name not in secrets:
            raise SecretError(self.problem(name, MISSING))
        value = self._decrypt(name, secrets[name], key, profile)
        if value is None:
            raise SecretError(self.problem(name, FAILED))
        return value

    def verify(self, names: Iterable[str]) -> dict[str, str]:
        """Name -> ok, missing or failed authentication; each value is decrypted and dropped at once.

        No key, a wrong key or an unreadable file raise SecretError: nothing can be checked then.
        """
        secrets, key, profile = self._checked()
        result = {}
        for name in names:
            if name not in secrets:
                result[name] = MISSING
            else:
                result[name] = OK if self._decrypt(name, secrets[name], key, profile) is not None else FAILED
        return result

    def _decrypt_all(self) -> dict[str, str]:
        secrets, key, profile = self._checked()
        plain = {}
        for name, blob in secrets.items():
            value = self._decrypt(name, blob, key, profile)
            if value is None:
                raise SecretError(self.problem(name, FAILED))
            plain[name] = value
        return plain

    def format(self) -> int:
        """The file's format: 2 (values bound to profile and name) or 1 (to their name only)."""
        return self._document()["format"]

    # -- writing -----------------------------------------------------------
    def init(self) -> None:
        self._write({}, self.key(), self._profile_to_write(None))

    def set(self, name: str, value: str) -> None:
        """Store one value; a format-1 file is rewritten bound (every value re-encrypted) on the way."""
        validate_name(name)
        self.upgrade()
        secrets, key, profile = self._checked()
        secrets = dict(secrets)
        secrets[name] = self._encrypt(name, value, key, profile)
        self._write(secrets, key, profile)

    def upgrade(self) -> int | None:
        """Rewrite a format-1 file as format 2, every value bound to the profile; the number of values
        re-encrypted, or None when the file is bound already. Every value is authenticated first."""
        doc = self._document()
        if doc["format"] == FORMAT_VERSION:
            return None
        profile = self._profile_to_write(doc)
        plain = self._decrypt_all()
        key = self.key()
        self._write({n: self._encrypt(n, v, key, profile) for n, v in plain.items()}, key, profile)
        return len(plain)

    def rotate(self, new_key: bytes) -> None:
        """Re-encrypt every value of this file under ``new_key`` (the old key no longer opens it).

        Every value is decrypted and authenticated first; a failure changes nothing. The file is
        replaced atomically. The key file is not touched: ``rotate_master_key`` does the whole
        procedure.
        """
        profile = self._profile_to_write(self._document())
        plain = self._decrypt_all()
        self._write({name: self._encrypt(name, value, new_key, profile) for name, value in plain.items()},
                    new_key, profile)
        self._key, self._key_given = new_key, True

    @staticmethod
    def _encrypt(name: str, value: str, key: bytes, profile: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, value.encode(), associated_data(profile, name))
        return base64.b64encode(nonce + sealed).decode()

    def _write(self, secrets: dict[str, str], key: bytes, profile: str) -> None:
        doc = {"format": FORMAT_VERSION, "profile": profile, "key_id": _key_id(key),
               "secrets": dict(sorted(secrets.items()))}
        mode = stat.S_IMODE(self.path.stat().st_mode) if self.path.exists() else 0o644   # ciphertext only
        _atomic_write(self.path, json.dumps(doc, indent=2) + "\n", mode)


# -- rotation ----------------------------------------------------------------------------
class FolderSecrets:
    """A profile's secrets as files of one folder, one per name, its content the value
    (``secrets.source: folder``): Docker secrets (``/run/secrets/<name>``, from ``docker/.env``
    in the compose stack) and Kubernetes secret volumes look like this. The platform encrypts and
    delivers them; nothing here decrypts, and nothing here writes (``etl secrets set`` refuses).

    One trailing newline is dropped, as from standard input in ``etl secrets set``: ``echo`` into a
    file and editors add one. Names are checked like the file's (an identifier, never a path), so a
    name from a config can never reach outside the folder.
    """

    def __init__(self, folder: Path | str, profile: str | None = None):
        self.path = Path(folder)
        self.profile = profile

    def problem(self, name: str, state: str) -> str:
        return (f"secret '{name}' is missing from the secrets folder {self.path} (secrets.source: folder); "
                f"provide it there as a file named {name} (in the compose stack: its value in docker/.env)")

    def _folder(self) -> Path:
        if not self.path.is_dir():
            raise SecretError(f"secrets folder {self.path} does not exist (secrets.source: folder); mount the "
                              f"secrets there (the compose stack does, from docker/.env) or set secrets.folder")
        return self.path

    def names(self) -> list[str]:
        return sorted(p.name for p in self._folder().iterdir()
                      if p.is_file() and NAME_PATTERN.fullmatch(p.name))

    def _read(self, name: str) -> str | None:
        validate_name(name)
        path = self._folder() / name
        try:
            value = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretError(f"secret '{name}' in the secrets folder {self.path} cannot be read "
                              f"({type(exc).__name__}); check the file's owner and mode") from None
        return value[:-1] if value.endswith("\n") else value

    def get(self, name: str) -> str:
        value = self._read(name)
        if value is None:
            raise SecretError(self.problem(name, MISSING))
        return value

    def verify(self, names: Iterable[str]) -> dict[str, str]:
        """Name -> ok or missing; values are read and dropped at once."""
        return {name: OK if self._read(name) is not None else MISSING for name in names}


def open_secrets(cfg: Config) -> SecretStore | FolderSecrets:
    """The secrets store profile ``cfg`` configures: its encrypted file, or its secrets folder."""
    if cfg.secrets.source == "folder":
        return FolderSecrets(cfg.path(cfg.secrets.folder), profile=cfg.profile)
    return SecretStore(cfg.secrets_file, profile=cfg.profile)


@dataclass
class Rotation:
    """What ``rotate_master_key`` did."""

    key_path: Path                      # where the new key is now (the key file, or the pending file)
    key_from_env: bool                  # True: ETL_MASTER_KEY must be updated by hand to the new key
    rotated: dict[Path, int] = field(default_factory=dict)   # file -> number of values re-encrypted
    already: list[Path] = field(default_factory=list)        # found under the new key (a resumed rotation)
    other_key: list[Path] = field(default_factory=list)      # under some other key: left alone


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(lock_path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SecretError(f"another `etl secrets rotate` holds {lock_path}; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def rotate_master_key(primary: Path, others: Iterable[Path] = (),
                      profiles: Mapping[Path, str] | None = None) -> Rotation:
    """A new random master key; every secrets file under the current key re-encrypted under it.

    ``profiles``: the profile of each file (path -> profile) where the caller knows it; each file is
    rewritten in format 2, bound to that profile (a format-2 file keeps its own; a format-1 file of
    unknown profile stops the rotation before anything changes).

    ``primary`` (the profile's file) must be readable with the current key; ``others`` (the
    files of the other profiles) are re-encrypted when they are under the current key too,
    since they share it, and left alone when under another key.

    Crash safety: the steps are ordered so that at every instant each file can be read by
    a key that exists on disk (K0 = current key in the key file or ``ETL_MASTER_KEY``,
    K1 = new key, P = the key file, P.new = ``pending_key_path()``):

    1. every value of every file is decrypted and authenticated with K0 (a failure stops
       here, before anything changes);
    2. K1 is written to P.new (0600, written to a temporary file, fsynced, renamed);
    3. each file is re-encrypted under K1 (temporary file, fsync, rename: each file is
       whole under K0 or whole under K1, and its ``key_id`` says which);
    4. key file case: P.new is renamed over P (atomic), and K0 exists nowhere on disk.
       ``ETL_MASTER_KEY`` case: nothing can change the variable, so P.new stays and the
       caller tells the user to put it into ``ETL_MASTER_KEY`` and delete the file.

    A crash before 2 leaves K0 and the old files. A crash between 2 and 4 leaves K0 in P,
    K1 in P.new and each file under one of them; running ``etl secrets rotate`` again
    resumes: it reuses K1 from P.new, re-encrypts the files still under K0 and swaps the
    key in. By hand: a file whose ``key_id`` matches P.new is opened with
    ``ETL_MASTER_KEY_FILE=P.new``. A run started meanwhile fails with "wrong master key"
    and names P.new.
    """
    from_env = KEY_ENV in os.environ
    key_path = key_file_path()
    pending = pending_key_path(key_path)
    ensure_outside_repository(pending)
    with _exclusive(key_path.with_name(key_path.name + ".lock")):
        old = load_master_key()
        new: bytes | None = None
        if pending.exists():
            try:
                new = _read_key_file(pending)
            except SecretError as exc:
                raise SecretError(f"{exc} (pending key of an interrupted `etl secrets rotate`; if "
                                  f"`etl secrets check` passes with the current key, delete {pending})") from None
            if new == old:          # already adopted (ETL_MASTER_KEY updated): nothing pending
                pending.unlink()
                new = None
        result = Rotation(key_path=key_path if not from_env else pending, key_from_env=from_env)

        # 1. decrypt and authenticate everything first
        plans: list[tuple[SecretStore, dict[str, str], str]] = []
        seen: set[Path] = set()
        for index, path in enumerate([primary, *others]):
            path = Path(path)
            if path.resolve() in seen or (index > 0 and not path.exists()):
                continue
            seen.add(path.resolve())
            store = SecretStore(path, key=old, profile=(profiles or {}).get(path))
            file_key_id = store.key_id()
            if new is not None and file_key_id == _key_id(new):
                result.already.append(path)
            elif file_key_id == _key_id(old):
                plans.append((store, store._decrypt_all(), store._profile_to_write(store._document())))
            elif index == 0:
                raise SecretStore(path)._wrong_key(file_key_id, old)
            else:
                result.other_key.append(path)

        # 2. the new key, durably, before any file depends on it
        if new is None:
            new = AESGCM.generate_key(bit_length=256)
            _write_key(pending, new)
        # 3. each file, atomically
        for store, plain, profile in plans:
            store._write({n: SecretStore._encrypt(n, v, new, profile) for n, v in plain.items()}, new, profile)
            result.rotated[store.path] = len(plain)
        # 4. the key swap
        if not from_env:
            os.replace(pending, key_path)
            _fsync_dir(key_path.parent)
        return result

